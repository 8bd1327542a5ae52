"""A screenshot of TensorBoard's time series (docs/tensorboard-demo.png), in
headless Chromium, after its charts have drawn:

  python tests/tensorboard_screenshot.py http://localhost:6006/ docs/tensorboard-demo.png

with `tensorboard --logdir results/demo/tensorboard` serving the demo's runs."""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chromium import Browser  # noqa: E402

WIDTH, HEIGHT = 1400, 1000


def type_into(browser: Browser, selector: str, text: str) -> None:
    browser.evaluate(f"(() => {{ const el = document.querySelector({selector!r}); el.focus(); el.select && el.select(); }})()")
    browser.call("Input.insertText", text=text)
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)


def main(url: str, out: str) -> None:
    with Browser(timeout=120) as browser:
        browser.open(url, width=WIDTH, height=HEIGHT)
        time.sleep(10)  # TensorBoard fetches its runs and scalars after the page loads
        type_into(browser, "input.slider-input", "0")  # no smoothing: the values as written, one per epoch
        time.sleep(1)
        browser.mouse(*browser.centre_of("button[aria-label='Toggle settings side pane']"), click=True)
        type_into(browser, "input[placeholder='Filter tags (regex)']", "^(accuracy|loss)/")
        time.sleep(8)
        browser.screenshot(out, width=WIDTH, height=HEIGHT, scale=1.0)


if __name__ == "__main__":
    main(*sys.argv[1:3])
