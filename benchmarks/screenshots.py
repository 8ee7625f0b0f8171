"""The README's pictures of the web page, taken by the browser test (``tests/serve/test_page.py``).

Usage::

    .venv/bin/python benchmarks/screenshots.py --out docs/img [--zappos CATALOG_DIR] [--seed 0]

Runs the page's end-to-end tests in headless Chromium and keeps what the browser showed:
``serve-welcome.png`` (the opening box), ``serve-desktop.png`` (1280x800, after an opening
sentence and two feedback sentences), ``serve-phone.png`` (390x844) and ``serve-end.png`` (the
end screen) on a 300-item built-in catalog with the slot-filler; with ``--zappos`` (a saved
UT-Zappos catalog whose data folder is still there) the same four again with ``-zappos`` before
``.png``. Exits with pytest's status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZAPPOS_SENTENCES = "women's ankle boots|not black please|brown ones"
"""A UT-Zappos catalog built without meta-data.csv has no gender: the page says so."""


def shoot(out: Path, seed: int, env: dict[str, str]) -> int:
    """Run the page tests once with screenshots saved to ``out``; pytest's exit status."""
    test = str(ROOT / "tests" / "serve" / "test_page.py")
    run_env = {**os.environ, **env, "TEXTREC_SCREENSHOTS": str(out), "TEXTREC_E2E_SEED": str(seed)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    return subprocess.run(cmd, env=run_env, cwd=ROOT, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder")
    parser.add_argument("--zappos", default=None, help="a saved UT-Zappos catalog directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the catalog and the server")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    status = shoot(args.out, args.seed, {})
    if status == 0 and args.zappos:
        zappos = {
            "TEXTREC_E2E_CATALOG": str(args.zappos),
            "TEXTREC_E2E_SENTENCES": ZAPPOS_SENTENCES,
            "TEXTREC_SCREENSHOT_TAG": "-zappos",
        }
        status = shoot(args.out, args.seed, zappos)
    sys.exit(status)


if __name__ == "__main__":
    main()
