"""Headless Chromium driven over the DevTools protocol through a pipe
(--remote-debugging-pipe: JSON messages ended by NUL on file descriptors 3 and
4), so no websocket library and no port are needed.

    python tests/chromium.py results/demo/report.html docs/report-demo.png
    python tests/chromium.py results/sweep/report.html docs/report-sweep.png '#sweeps'

opens a page and writes a screenshot of its first screen (how docs/report-demo.png is made), or
of a screen from the top of the element a CSS selector names.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]


def _above(fd: int, low: int) -> int:
    """`fd` moved to the lowest free descriptor >= low (inheritable, as F_DUPFD makes it)."""
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return moved


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One Chromium process with a fresh profile, one page attached in flat mode."""

    def __init__(self, executable: str | None = None, timeout: float = 60.0):
        executable = executable or find_chromium()
        if executable is None:
            raise FileNotFoundError("no chromium executable on PATH (Debian: apt-get install chromium)")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="cnncompare-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The child's ends go above 4 first, so placing one on 3 never overwrites
        # the other; they are inheritable, the parent's ends (from os.pipe) are not.
        child_r, child_w = _above(to_browser_r, 10), _above(from_browser_w, 10)

        def pipe_fds():  # the protocol's fixed descriptors: 3 reads commands, 4 writes replies
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            preexec_fn=pipe_fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=self.log,
        )
        os.close(child_r)
        os.close(child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def _send(self, message: dict) -> None:
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no message from chromium in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                self.log.seek(0)
                raise RuntimeError(f"chromium closed the pipe: {self.log.read().decode(errors='replace')[-2000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, **params) -> dict:
        """Send one command (to the page once attached) and return its result; events are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        self._send(message)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        for event in self.events:
            if event["method"] == method:
                return event
        while True:
            event = self._receive(deadline)
            if "method" in event:
                self.events.append(event)
                if event["method"] == method:
                    return event

    def open(self, url: str, width: int = 1280, height: int = 900) -> float:
        """Load `url` with console, log, network and page events recorded, wait for
        its load event and its first layout; returns the seconds that took."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        start = time.monotonic()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.evaluate("document.body.getBoundingClientRect().height")  # layout done
        return time.monotonic() - start

    def mouse(self, x: float, y: float, click: bool = False) -> None:
        """Move the mouse to (x, y) in the viewport, as a user does; click there when asked."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        if click:
            for kind in ("mousePressed", "mouseReleased"):
                self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def centre_of(self, selector: str) -> tuple[float, float]:
        """Scroll the first element matching `selector` into view; its centre in the viewport."""
        box = self.evaluate(f"""(() => {{
            const el = document.querySelector({json.dumps(selector)});
            el.scrollIntoView({{block: "center", inline: "center"}});
            const r = el.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2];
        }})()""")
        return box[0], box[1]

    def fonts_of(self, selector: str) -> list[dict]:
        """The platform fonts Chromium drew the text of the first element matching
        `selector` with: [{familyName, glyphCount, ...}] (CSS.getPlatformFontsForNode)."""
        self.call("DOM.enable")
        self.call("CSS.enable")
        root = self.call("DOM.getDocument", depth=-1)["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        return self.call("CSS.getPlatformFontsForNode", nodeId=node)["fonts"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path, width: int = 1280, height: int = 900, scale: float = 1.0, top: float = 0) -> bytes:
        """A PNG of `width` x `height` CSS pixels of the page from `top` down, scaled by `scale`."""
        clip = {"x": 0, "y": top, "width": width, "height": height, "scale": scale}
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png", clip=clip)["data"])
        Path(path).write_bytes(data)
        return data

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries (failed loads among them)."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif event["method"] == "Runtime.exceptionThrown":
                found.append(str(params.get("exceptionDetails", {}).get("text")))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # already gone: nothing to close
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(page: str, out: str, selector: str | None = None, width: int = 1280, height: int = 900,
         scale: float = 0.75) -> None:
    """A screenshot of the page's first screen in a 1280 x 900 window, at 3/4 size (or of one
    screen from the top of the element `selector` names)."""
    with Browser() as browser:
        browser.open(Path(page).resolve().as_uri(), width=width, height=height)
        top = 0
        if selector:  # scrolled there as a reader would be: the element just below the sticky toolbar
            top = browser.evaluate(f"(() => {{ const bar = document.querySelector('#toolbar'); "
                                   f"window.scrollTo(0, document.querySelector({json.dumps(selector)})"
                                   f".getBoundingClientRect().top - (bar ? bar.offsetHeight : 0) - 8); "
                                   f"return window.scrollY; }})()")
        browser.screenshot(out, width, height, scale, top=top)
        if browser.console_errors():
            print("console errors:", browser.console_errors(), file=sys.stderr)
    print(f"{out}: {Path(out).stat().st_size} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:4])
