"""The screenshots of docs/outputs.md's "Is the difference real?": a report
rendered (without Snakemake) from synthetic runs of the demo's four models on
both splits, one seed each, two of them close (94% and 93.5% on 360 test
images, as in the demo), in headless Chromium:

  python tests/comparisons_screenshot.py OUT_DIR docs/report-comparisons.png docs/report-overview-tied.png
"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "workflow" / "scripts")]
import chromium  # noqa: E402
import synthetic_runs  # noqa: E402

# (accuracy, seconds per epoch, trainable parameters): custom_cnn and vgg16_finetune within noise.
MODELS = {"custom_cnn": (0.94, 2.0, 307_946), "vgg16": (0.62, 1.6, 137_738),
          "vgg16_finetune": (0.935, 2.4, 1_873_226), "resnet50": (0.80, 6.5, 26_136_138)}


def render(out: Path) -> Path:
    synthetic_runs.write_grid(out, 1, models=MODELS)
    return synthetic_runs.render_written(out / "runs", out)


if __name__ == "__main__":
    page = render(Path(sys.argv[1]))
    chromium.main(str(page), sys.argv[2], "#seeds")
    chromium.main(str(page), sys.argv[3])
