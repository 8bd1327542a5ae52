"""A screenshot of a halved sweep's section of the report (docs/outputs.md's
"Sweeps"), rendered without Snakemake from fabricated files in the workflow's
format (tests/halving_files.py: 9 learning rates of custom_cnn on digits, eta
3, two seeds) with the select rule `{prefer: train_time, within: 1.0}`, in headless
Chromium at 1280 px:

  .venv/bin/python tests/halving_screenshot.py OUT_DIR OUT.png

After a real halved sweep, the same section of its report is taken with
  .venv/bin/python tests/chromium.py results/<study>/report.html OUT.png "#sweeps"
"""

import os
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1] / "workflow" / "scripts")]
import chromium  # noqa: E402
import halving_files  # noqa: E402
import synthetic_runs  # noqa: E402

SELECT = {"prefer": "train_time", "within": 1.0}


def render(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    os.chdir(out)  # halving.json's paths are relative to the folder Snakemake runs in
    written = halving_files.write(out)
    models = {name: {**texts, "sweep": {**texts["sweep"], "select": SELECT}}
              for name, texts in halving_files.models().items()}
    return synthetic_runs.render_written(out / "results" / "runs", out, models=models, halving=written["halving"])


if __name__ == "__main__":
    out = Path(sys.argv[1]).resolve()
    shot = Path(sys.argv[2]).resolve()
    chromium.main(str(render(out)), str(shot), "#sweeps", height=1100, scale=1.0)
