"""The app in a real browser: Debian's headless Chromium, driven by playwright (no browser download).

Upload an example page, generate, wait until the player has decoded the soundtrack, check that the page with
its panels, the features and the spectrogram are shown, and save a screenshot in the test's folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "peppercarrot_ep03_en_002.jpg"
TIMEOUT_MS = 180_000  # one CPU generation on a busy machine; every wait below is bounded by it
SECONDS = 3
IMAGES = ["overlay", "features", "spectrogram"]  # elem_ids of the outputs shown as images


def test_generate_in_the_browser(chromium: str, app_url: str, tmp_path: Path) -> None:
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(app_url, wait_until="domcontentloaded")
            page.locator("#seconds input[type=range]").wait_for()
            # the checked settings are drawn as the components they extend: one slider, three check boxes
            assert page.locator("input[type=range]").count() == 1
            assert page.locator("input[type=checkbox]").count() == 3
            page.locator("#page input[type=file]").set_input_files(EXAMPLE)
            page.locator("#page").get_by_text(EXAMPLE.suffix).wait_for()  # the upload is listed
            length = page.locator("#seconds input[type=number]")
            length.fill(str(SECONDS))
            length.press("Enter")
            page.click("#generate")

            page.wait_for_function(  # the player fetched and decoded the WAV: it shows its length
                "() => (document.querySelector('#soundtrack #duration')?.textContent ?? '0:00') !== '0:00'"
            )
            assert page.locator("#soundtrack #duration").inner_text() == f"0:{SECONDS:02d}"
            magic, size = page.evaluate(
                """async () => {
                    const link = document.querySelector("#soundtrack a[download$='.wav']");
                    const bytes = new Uint8Array(await (await fetch(link.href)).arrayBuffer());
                    return [String.fromCharCode(...bytes.slice(0, 4)), bytes.length];
                }"""
            )
            assert magic == "RIFF" and size >= 2 * 2 * SECONDS * 44100  # 16-bit stereo samples at 44.1 kHz
            page.wait_for_function(  # page overlay, features figure and spectrogram decoded at a real size
                "ids => ids.every(id => document.querySelector(`#${id} img`)?.naturalWidth > 200)", arg=IMAGES
            )
            assert "panel" in page.locator("#summary").inner_text()
            assert "panel_count" in page.locator("#feature-table").inner_text()
            assert "Pepper" in page.locator("#lettering").inner_text()  # the text read, in its panel's row
            assert page.locator("#downloads").get_by_text(".json").count() == 1
            assert "plan: page (bed)" in page.locator("#cues").inner_text()  # the cue sheet, with its credits
            page.screenshot(path=tmp_path / "app.png", full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "app.png").stat().st_size > 10_000
    assert not errors, errors
