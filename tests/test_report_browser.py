"""The HTML report in a real browser: headless Chromium loads it from disk (no network),
the plots render, a response holding `<script>` is shown as text and never runs, and the
row filter works under the report's Content-Security-Policy.

Needs Debian's `chromium` (`bash scripts/install_chromium.sh`); skipped without it.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import registry
from tests.test_compare import ScriptedAdapter, invoke

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (bash scripts/install_chromium.sh)"
)

PAYLOAD = (
    "<script>document.title='pwned';"
    "document.body.appendChild(document.createElement('div')).id='pwned'</script>"
)
IMG_PAYLOAD = (
    "<img src=x onerror=\"document.body.appendChild(document.createElement('hr')).id='pwned2'\">"
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
PLOT_BLUE = (0, 114, 178)
PLOT_ORANGE = (230, 159, 0)
"""The first two Okabe-Ito colours of the plots (the page's own styles use neither)."""


def chromium(profile: Path, *args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def report_file(
    qa_file: Path,
    db_path: Path,
    tmp_path: Path,
    fake_registered: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A two-run report, sliced by category; the candidate answers q3 with a script and q7
    with an image whose onerror would add an element."""
    monkeypatch.setitem(registry.BUILTIN_ADAPTERS, "scripted", "tests.test_compare:ScriptedAdapter")
    monkeypatch.setattr(
        ScriptedAdapter, "script", {"q1": "nope", "q3": PAYLOAD, "q5": "x", "q7": IMG_PAYLOAD}
    )
    common = ["--scorers", "exact_match,token_f1", "--db", str(db_path), "--no-progress"]
    for name, model in (("base", "fake"), ("cand", "scripted")):
        code, out = invoke("run", str(qa_file), "--model", model, "--name", name, *common)
        assert code == 0, out
    out = tmp_path / "report.html"
    code, text = invoke(
        "report",
        "base",
        "cand",
        "--by",
        "category",
        "--min-slice",
        "2",
        "--out",
        str(out),
        "--db",
        str(db_path),
    )
    assert code == 0, text
    return out


def test_report_renders_in_chromium_and_scripts_from_data_do_not_run(
    report_file: Path, tmp_path: Path
) -> None:
    url = report_file.resolve().as_uri()
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", url + "#q=q7")
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and html.unescape(title.group(1)) == "harness report: base vs cand"
    assert 'id="pwned"' not in dom and 'id="pwned2"' not in dom
    assert len(re.findall(r"<script\b", dom)) == 1  # only the report's filter
    assert "&lt;script&gt;document.title='pwned'" in dom  # shown as text
    assert "&lt;img src=x onerror=" in dom
    images = re.findall(r'<img src="data:image/svg\+xml;base64,', dom)
    assert len(images) == 2 + 2 + 1 + 1  # histograms, slice bars, differences, latency
    # the filter script ran (the CSP allowed it): #q=q7 hid every regression row but q7's
    table = dom[dom.index('id="regressions"') :]
    rows = re.findall(r"<tr( hidden(?:=\"\")?)?>(.*?)</tr>", table[table.index("<tbody>") :], re.S)
    shown = [cells for hidden, cells in rows if not hidden]
    assert shown and all(">q7<" in cells for cells in shown)
    assert len(shown) < len(rows)


def test_screenshot_shows_the_plots(report_file: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    chromium(
        tmp_path / "profile-shot",
        f"--screenshot={shot}",
        "--window-size=1280,5200",
        report_file.resolve().as_uri(),
    )
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 5200)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the page looks blank"
    counts = {rgb: n for n, rgb in colours}
    # filled bars of both runs: pixels exactly in the plot colours
    assert counts.get(PLOT_BLUE, 0) > 2000
    assert counts.get(PLOT_ORANGE, 0) > 2000
