"""The app in a real browser: Debian's headless Chromium, driven by playwright (no browser download).

On a desktop screen: upload an example page, generate one segment per panel, wait until the player has the
soundtrack, check that the page map, the features and the spectrogram are shown; play: the panel being heard
lights up and the playhead moves over the spectrogram; click panel 2: the player jumps to its segment's start.
On a phone screen: generate, and the page scrolls to the progress, then to the results; then the sound tab.
Screenshots of both are saved in the test's folder, and the text on them is checked to be readable: panel numbers
whole and apart, figures shown at a scale that keeps their smallest text at 9 px or more, labels at 12 px or
more, feature names and table headers never broken across lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from bd2music.audio.plots import MIN_FONT_PT

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "peppercarrot_ep03_en_002.jpg"
TIMEOUT_MS = 180_000  # one CPU generation on a busy machine; every wait below is bounded by it
SECONDS = 4
IMAGES = ["page-map", "features", "spectrogram", "piano-roll"]  # elem_ids of the outputs shown as images
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}
PLAYER = "document.querySelector('#soundtrack audio')"  # gr.Audio's native player
FIGURES = ["spectrogram", "piano-roll", "features"]
MIN_TEXT_PX = 9  # the smallest text on a figure, as shown
MIN_LABEL_PX = 12  # labels, notes, legends and panel numbers
ONE_LINE = ["#feature-table td:first-child", "#feature-table th", "#lettering th", "#lettering td:nth-child(2)",
            "#sound-table td:first-child", "#sound-table th"]  # identifiers and headers: never broken


@pytest.fixture(scope="module")
def browser(chromium: str):
    with sync_playwright() as playwright:
        # the test starts the player itself (a visitor's click is a user gesture, evaluate() is not)
        launched = playwright.chromium.launch(executable_path=chromium, timeout=60_000,
                                              args=["--autoplay-policy=no-user-gesture-required"])
        try:
            yield launched
        finally:
            launched.close()


def open_app(browser: Browser, app_url: str, viewport: dict, errors: list[str]) -> Page:
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_url, wait_until="domcontentloaded")
    page.locator("#seconds input[type=range]").wait_for()
    return page


def generate(page: Page, seconds: int, per_panel: bool) -> None:
    page.locator("#page input[type=file]").set_input_files(EXAMPLE)
    page.locator("#page").get_by_text(EXAMPLE.suffix).wait_for()  # the upload is listed
    length = page.locator("#seconds input[type=number]")
    length.fill(str(seconds))
    length.press("Enter")
    if per_panel:
        page.get_by_label("One segment per panel, in reading order").check()
    page.click("#generate")


def wait_for_track(page: Page, seconds: int) -> None:
    """The player has loaded the new track and every figure is decoded at a real size."""
    page.wait_for_function(f"() => Math.abs(({PLAYER}?.duration ?? 0) - {seconds}) < 0.05")
    page.wait_for_function(
        "ids => ids.every(id => document.querySelector(`#${id} img`)?.naturalWidth > 200)", arg=IMAGES
    )


def panels_heard(page: Page) -> list[int]:
    return page.evaluate("() => [...document.querySelectorAll('#page-map .bd-panel.playing')]"
                         ".map(b => +b.dataset.panel)")


def playhead_x(page: Page) -> float:
    return page.evaluate("() => parseFloat(document.querySelector('#spectrogram .bd-playhead').style.left)")


def assert_readable(page: Page, figures: list[str], numbers: bool = True) -> None:
    """What is shown can be read: see the module's docstring (``numbers``: the page map's panel numbers too)."""
    badges = page.evaluate("""() => [...document.querySelectorAll('#page-map .bd-number')].map(b => {
        const r = b.getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom, parseFloat(getComputedStyle(b).fontSize)] })""")
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert badges or not numbers
    assert all(size >= MIN_LABEL_PX and 0 <= left and right <= width for left, _, right, _, size in badges)
    for i, a in enumerate(badges):  # no number covers another
        for b in badges[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    scales = page.evaluate("""ids => ids.map(id => { const i = document.querySelector(`#${id} img`);
        return i.getBoundingClientRect().width / i.naturalWidth })""", figures)
    assert min(scales) * MIN_FONT_PT * 100 / 72 >= MIN_TEXT_PX, dict(zip(figures, scales))
    small = page.evaluate("""limit => [...document.querySelectorAll(
            'label, .bd-note, #overlay-legend, #summary, th, td, [data-testid="block-info"]')]
        .filter(e => e.offsetParent && e.innerText.trim() && parseFloat(getComputedStyle(e).fontSize) < limit)
        .map(e => e.innerText.slice(0, 40))""", MIN_LABEL_PX)
    assert not small, small
    broken = page.evaluate("""selectors => selectors.flatMap(s => [...document.querySelectorAll(s)])
        .filter(cell => cell.offsetParent && cell.innerText.trim()).filter(cell => {
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT), lines = new Set();
            for (let text = walker.nextNode(); text; text = walker.nextNode()) {
                const range = document.createRange(); range.selectNodeContents(text);
                for (const r of range.getClientRects()) if (r.width > 0) lines.add(Math.round(r.top));
            }
            return lines.size > 1 }).map(cell => cell.innerText)""", ONE_LINE)
    assert not broken, broken


def test_generate_play_and_click_a_panel_on_a_desktop(browser: Browser, app_url: str, tmp_path: Path) -> None:
    errors: list[str] = []
    page = open_app(browser, app_url, DESKTOP, errors)
    # the checked settings are drawn as the components they extend: one slider, three check boxes
    assert page.locator("input[type=range]").count() == 1
    assert page.locator("input[type=checkbox]").count() == 3
    generate(page, SECONDS, per_panel=True)
    wait_for_track(page, SECONDS)
    magic, size = page.evaluate(
        """async () => {
            const link = document.querySelector("#soundtrack a[download$='.wav']");
            const bytes = new Uint8Array(await (await fetch(link.href)).arrayBuffer());
            return [String.fromCharCode(...bytes.slice(0, 4)), bytes.length];
        }"""
    )
    assert magic == "RIFF" and size >= 2 * 2 * SECONDS * 44100  # 16-bit stereo samples at 44.1 kHz
    summary = page.locator("#summary").inner_text()
    assert "panel" in summary and "Why it sounds like this" in summary
    assert "panel_count" in page.locator("#feature-table").inner_text()
    assert "Pepper" in page.locator("#lettering").inner_text()  # the text read, in its panel's row
    assert page.locator("#downloads").get_by_text(".json").count() == 1
    assert "plan: panel 1 (bed)" in page.locator("#cues").inner_text()  # the cue sheet, with its credits
    segments = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#page-map .bd-panel')]
        .map(b => [b.dataset.panel, [+b.dataset.start, +b.dataset.end]]))""")
    assert sorted(segments) == ["1", "2", "3", "4", "5"] and segments["1"][0] == 0 and segments["5"][1] == SECONDS
    assert not panels_heard(page)

    # play: the panel heard lights up and the playhead moves over the spectrogram
    page.evaluate(f"() => {PLAYER}.play()")
    page.wait_for_function("() => document.querySelector('#spectrogram .bd-playhead')?.style.display === 'block'")
    assert panels_heard(page) == [1]
    start_x = playhead_x(page)
    page.wait_for_function(f"() => {PLAYER}.currentTime > {segments['1'][1] + 0.1}")
    page.evaluate(f"() => {PLAYER}.pause()")
    now = page.evaluate(f"() => {PLAYER}.currentTime")
    heard = [int(n) for n, (start, end) in segments.items() if start <= now < end]
    assert panels_heard(page) == heard and heard != [1]
    assert playhead_x(page) > start_x + 20
    page.screenshot(path=tmp_path / "desktop_playing.png")

    # click panel 2: the player jumps to its segment's start and plays it
    page.evaluate(f"() => {{ window.seeks = []; "
                  f"{PLAYER}.addEventListener('seeked', e => seeks.push(e.target.currentTime)) }}")
    page.locator('#page-map .bd-panel[data-panel="2"]').click()
    page.wait_for_function("() => window.seeks.length > 0")
    landed = page.evaluate("() => window.seeks[0]")  # read when the seek is done: the track may play on a little
    assert segments["2"][0] - 0.02 <= landed <= min(segments["2"][0] + 0.15, segments["2"][1])  # on a busy machine
    page.wait_for_function(f"() => !{PLAYER}.paused")
    assert panels_heard(page) == [2]
    page.evaluate(f"() => {PLAYER}.pause()")
    assert_readable(page, FIGURES)
    page.screenshot(path=tmp_path / "desktop.png", full_page=True)
    assert (tmp_path / "desktop.png").stat().st_size > 10_000
    assert not errors, errors


def test_a_phone_scrolls_to_the_progress_then_to_the_results(
    browser: Browser, app_url: str, tmp_path: Path, sound_clips: dict[str, Path]
) -> None:
    clip = sound_clips["music"]
    errors: list[str] = []
    page = open_app(browser, app_url, PHONE, errors)
    generate(page, 2, per_panel=False)
    in_sight = "id => { const r = document.getElementById(id).getBoundingClientRect(); " \
               "return r.top >= 0 && r.top < window.innerHeight - 40; }"
    page.wait_for_function(in_sight, arg="status")  # the progress, under the button
    wait_for_track(page, 2)
    page.wait_for_function(in_sight, arg="overlay-legend")  # then the results: the legend and the page map
    assert page.evaluate("() => window.scrollY") > 500  # they lie far below the settings on a phone
    assert_readable(page, FIGURES)
    page.screenshot(path=tmp_path / "phone.png", full_page=True)
    assert (tmp_path / "phone.png").stat().st_size > 10_000

    page.get_by_role("tab", name="Sound analysis").click()
    page.locator("#clip input[type=file]").set_input_files(clip)
    page.locator("#clip audio, #clip [data-testid^=waveform]").first.wait_for()
    page.get_by_role("button", name="Analyse sound").click()
    page.wait_for_function("() => document.querySelector('#sound-figure img')?.naturalWidth > 200")
    page.locator("#sound-table").get_by_text("spectral_centroid_mean").wait_for()
    assert_readable(page, ["sound-figure"], numbers=False)
    page.screenshot(path=tmp_path / "phone_sound.png", full_page=True)
    assert not errors, errors
