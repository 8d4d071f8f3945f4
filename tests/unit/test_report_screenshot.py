"""The HTML report as a browser draws it: a headless Chromium screenshot of the page for the shipped scenario
worker-timeout-reshards (run on the scripted stand-in, as in test_html_report.py), read back pixel by pixel.

Skipped, with the reason, where there is no Chromium (`apt-get install chromium`, or HARNESS_CHROMIUM).
scripts/report_screenshot.py takes the same picture for the README (docs/report-screenshot.png).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.expect.html_report import COLOURS, write_reports
from tests.support.chromium import find_chromium, screenshot
from tests.support.png import Image, decode_png
from tests.unit.test_html_report import simulated

SCENARIO = "worker-timeout-reshards"
WIDTH, HEIGHT = 1250, 900
# The three timeouts are bars of 1 s on a timeline of about 22 s drawn 1000 px wide: about 45 x 22 px each.
MIN_TIMEOUT_BAR_PIXELS = 1000

CHROMIUM, MISSING = find_chromium()
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason=f"no headless Chromium: {MISSING}"),
              pytest.mark.timeout(180)]  # Chromium itself is killed after 60 s (tests/support/chromium.py)


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def near(colours: Counter[tuple[int, int, int]], target: tuple[int, int, int], tolerance: int) -> int:
    """How many pixels are within `tolerance` of `target` in every channel."""
    return sum(count for colour, count in colours.items()
               if all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True)))


def bar_opacity(html: str, status: str) -> float:
    """The fill-opacity the page gives an attempt bar of `status` (1 when it sets none)."""
    bar = re.search(rf'<rect[^>]*class="[^"]*\bstatus-{status}\b[^"]*"[^>]*>', html)
    assert bar, f"the page has no attempt bar of status {status}"
    opacity = re.search(r'fill-opacity="([0-9.]+)"', bar.group(0))
    return float(opacity.group(1)) if opacity else 1.0


def assert_pictures_the_report(image: Image, html: str) -> None:
    """`image` is the report page as drawn: the legend's colours, the verdicts and the timeout bars are there."""
    assert (image.width, image.height) == (WIDTH, HEIGHT), "the screenshot is not of the requested size"
    colours = image.colours()
    [(background, most)] = colours.most_common(1)
    distinct, share = len(colours), most / (WIDTH * HEIGHT)
    # The report is about 75% white; text alone (the page without its timeline) 90%, an empty page 100%.
    assert distinct >= 200 and share < 0.97, f"a blank page: {distinct} colours, {share:.0%} of the pixels {background}"
    # The legend names every status in its colour, and the verdicts ("passed", PASS) are written in green.
    absent = [status for status, colour in COLOURS.items() if near(colours, rgb(colour), 0) < 20]
    assert absent == [], f"no pixel in the colour of {absent}: the legend was not drawn"
    assert near(colours, rgb(COLOURS["ok"]), 0) >= 500, "no verdict drawn in green"
    # The timeline: a timeout bar is the timeout colour laid at its fill-opacity over the (near-white) lane.
    alpha = bar_opacity(html, "timeout")
    red, green, blue = (round(alpha * c + (1 - alpha) * 255) for c in rgb(COLOURS["timeout"]))
    drawn = (red, green, blue)
    bars = near(colours, drawn, 8)  # 8: the lanes are white or #f7f7f7
    assert bars >= MIN_TIMEOUT_BAR_PIXELS, f"{bars} pixels of timeout bars {drawn}: the SVG timeline was not drawn"


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario, report = simulated(SCENARIO)
    directory = tmp_path_factory.mktemp("report")
    pages = write_reports(directory, [SimpleNamespace(scenario=scenario, report=report, seconds=1.0, error=None)])
    return pages[SCENARIO]


def shoot(page: Path, tmp_path: Path) -> Image:
    assert CHROMIUM is not None
    png = screenshot(CHROMIUM, page, tmp_path / "screenshot.png", WIDTH, HEIGHT)
    return decode_png(png.read_bytes())


def test_chromium_draws_the_report_with_its_timeline_and_verdicts(report_page: Path, tmp_path: Path) -> None:
    assert_pictures_the_report(shoot(report_page, tmp_path), report_page.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("planted", "complaint"), [
    (lambda html: "", "a blank page"),
    (lambda html: re.sub(r"<svg.*?</svg>", "", html, flags=re.S), "the SVG timeline was not drawn"),
], ids=["empty-page", "no-timeline"])
def test_the_picture_check_fails_on_a_page_that_does_not_draw_the_report(
        report_page: Path, tmp_path: Path, planted: Callable[[str], str], complaint: str) -> None:
    html = report_page.read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(planted(html), encoding="utf-8")
    with pytest.raises(AssertionError, match=complaint):
        assert_pictures_the_report(shoot(broken, tmp_path), html)
