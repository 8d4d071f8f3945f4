"""Refresh docs/report-screenshot.png, the README's picture of an HTML report: the page `harness run --report`
writes for the shipped scenario worker-timeout-reshards, run on the unit tests' scripted stand-in (no
LocalStack), as a headless Chromium draws it. The same Chromium call as tests/unit/test_report_screenshot.py.

    .venv/bin/python scripts/report_screenshot.py [OUT.png]

Needs Chromium (`apt-get install chromium`, or HARNESS_CHROMIUM=/path/to/chrome). Exit status 2 without one.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support and tests.unit, from a source checkout

from harness.expect.html_report import write_reports  # noqa: E402
from tests.support.chromium import find_chromium, screenshot  # noqa: E402
from tests.unit.test_html_report import simulated  # noqa: E402

SCENARIO = "worker-timeout-reshards"
OUT = ROOT / "docs" / "report-screenshot.png"
# Wide enough for the whole timeline, tall enough for the first rows of the expectations table.
WIDTH, HEIGHT = 1250, 900


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else OUT
    chromium, missing = find_chromium()
    if chromium is None:
        print(f"report_screenshot: {missing}", file=sys.stderr)
        return 2
    scenario, report = simulated(SCENARIO)
    with tempfile.TemporaryDirectory(prefix="report-screenshot-") as directory:
        pages = write_reports(Path(directory), [SimpleNamespace(scenario=scenario, report=report, seconds=1.0,
                                                                error=None)])
        page = pages[SCENARIO]
        # Scenario locations relative to the checkout, so the picture does not show this machine's paths.
        page.write_text(page.read_text(encoding="utf-8").replace(f"{ROOT}/", ""), encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(chromium, page, out, WIDTH, HEIGHT)
    print(f"{out} ({out.stat().st_size // 1024} KB, {WIDTH}x{HEIGHT}) from {chromium}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
