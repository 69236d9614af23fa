"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real server.

Set PAINTERLY_SCREENSHOT=path/to.png to also write the mid-run screenshot there (docs/web-screenshot.png
is made this way).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_web_support import live_server, scene, stripes, wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def browser_required() -> bool:
    """In CI (``CI`` set) and under test.sh a missing browser stack fails the suite; elsewhere it skips."""
    return bool(os.environ.get("CI") or os.environ.get("PAINTERLY_REQUIRE_BROWSER"))


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        if browser_required():
            pytest.fail("playwright is missing: pip install -e '.[test]' (test.sh does this)")
        pytest.skip("playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (test.sh does this)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def wait_js(page, expression: str, timeout: float = 30.0) -> None:
    """``page.wait_for_function`` without its in-page eval, which the page's CSP (no unsafe-eval) refuses."""
    wait_for(lambda: page.evaluate(expression), timeout=timeout)


def open_page(browser, url: str):
    """The app's page, ready, with the script errors and CSP violations it reports collected."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: "Content Security Policy" in msg.text and errors.append(msg.text))
    page.goto(url)
    page.wait_for_selector("body[data-ready]")
    return page, errors


def start_tiny_run(page, iterations: int) -> None:
    """Start a 64 px single-scale run of ``iterations`` with a preview every iteration."""
    page.fill("#set-size", "64")
    page.fill("#set-iterations", str(iterations))
    page.click("details summary")
    page.fill("#set-scales", "1")
    page.fill("#preview-every", "1")
    page.click("#start")


def test_upload_run_preview_gallery_and_bad_upload(browser, tmp_path):
    content, style = scene(tmp_path / "meadow.png"), stripes(tmp_path / "stripes.png")
    with live_server(tmp_path / "data") as url:
        page, errors = open_page(browser, url)

        # inputs: upload a content and a style image (replacing the preselected painting)
        page.set_input_files("#content-file", str(content))
        page.wait_for_selector("#content-picked .label:text('meadow.png')")
        page.click("#styles .remove")
        page.set_input_files("#style-file", str(style))
        page.wait_for_selector(".style-row .label:text('stripes.png')")
        assert page.locator(".style-row").count() == 1

        # a tiny run with a preview every iteration
        start_tiny_run(page, 60)

        wait_js(page, "Number(document.querySelector('#preview').dataset.iteration) > 0")
        first = page.get_attribute("#preview", "data-iteration")
        wait_js(
            page,
            f"(d => d && d !== 'final' && Number(d) > {first})(document.querySelector('#preview').dataset.iteration)",
        )
        src = page.get_attribute("#preview", "src")
        assert "/preview" in src
        assert page.locator("#progress").evaluate("p => p.value > 0 && p.value < p.max")
        assert "iteration" in page.inner_text("#run-stats") and "remaining" in page.inner_text("#run-stats")
        wait_js(page, "document.querySelectorAll('#plot polyline').length == 2")
        shot = tmp_path / "mid-run.png"
        page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("PAINTERLY_SCREENSHOT"):
            target = Path(os.environ["PAINTERLY_SCREENSHOT"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, target)

        # the result lands in the gallery, with its image
        card = page.wait_for_selector(".card[data-status='done']", timeout=90_000)
        card.scroll_into_view_if_needed()
        wait_js(
            page,
            "(img => img && img.complete && img.naturalWidth === 64)"
            "(document.querySelector(\".card[data-status='done'] .thumb img\"))",
        )
        assert "finished" in page.inner_text("#run-status")
        assert page.get_attribute("#preview", "data-iteration") == "final"

        # a bad upload shows a clear message, and the page still works
        page.set_input_files(
            "#content-file",
            files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}],
        )
        page.wait_for_selector("#message.error")
        message = page.inner_text("#message")
        assert "notes.png" in message and "not an image" in message
        assert page.inner_text("#content-picked .label") == "meadow.png"  # the good one stays chosen

        # re-run prefills the form from the gallery entry
        page.fill("#set-size", "100")
        page.click(".card[data-status='done'] button:text('Re-run…')")
        wait_js(page, "document.querySelector('#set-size').value === '64'")
        assert page.input_value("#set-iterations") == "60"

        # See inside: the run's panels, computed by the queue, in rows with their captions
        page.click(".card[data-status='done'] button:text('See inside')")
        page.wait_for_selector("#inside-section[data-status='done']", timeout=120_000)
        figures = page.locator("#inside-panels .inside-panel")
        assert figures.count() == 23 and page.locator("#inside-panels h3").count() == 4
        assert "content from relu1_2" in page.inner_text("#inside-panels")
        wait_js(
            page,
            "[...document.querySelectorAll('#inside-panels img')].every(i => i.complete && i.naturalWidth > 0)",
        )
        page.click("#inside-close")
        assert page.locator("#inside-section").is_hidden()
        assert errors == []
        page.close()


def test_gallery_shows_older_runs_past_the_largest_page(browser, tmp_path):
    """ "Show older runs" walks the pages with ``before``; asking for one ever larger page would stop at
    the server's page cap (here 3) and never reach the oldest runs."""
    from test_web import submit
    from test_web_support import TINY, test_client

    from painterly.web.limits import Limits
    from painterly.web.server import create_app

    app = create_app(tmp_path / "data", start_worker=False)
    with test_client(app) as client:
        ids = [submit(client, "sample:astronaut", seed=s, **TINY).json()["id"] for s in range(7)]
        with app.state.store.db.transaction() as db:
            db.execute("UPDATE jobs SET status='failed', error='old run'")
    limits = Limits(gallery_page=2, gallery_page_max=3)
    with live_server(tmp_path / "data", limits=limits, start_worker=False) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ready]")
        for shown in (2, 4, 6):
            wait_js(page, f"document.querySelectorAll('#gallery .card').length === {shown}")
            page.click("#gallery button.more")
        wait_js(page, "document.querySelectorAll('#gallery .card').length === 7")
        cards = page.eval_on_selector_all("#gallery .card", "cards => cards.map((c) => c.dataset.id)")
        assert cards == ids[::-1] and page.locator("#gallery button.more").count() == 0
        page.close()


def test_a_run_continued_after_a_restart_says_where_it_resumed(browser, tmp_path):
    from test_web import submit
    from test_web_support import test_client

    from painterly.web.server import create_app

    with test_client(create_app(tmp_path / "data")) as client:
        job_id = submit(client, "sample:astronaut", size=48, scales=1, iterations=100).json()["id"]
        wait_for(lambda: client.get(f"/api/jobs/{job_id}").json().get("live", {}).get("iteration", 0) >= 2)
    # the app shut down mid-run; the restarted one continues the run from its checkpoint
    with live_server(tmp_path / "data") as url:
        page = browser.new_page()
        page.goto(url)
        page.evaluate(f"sessionStorage.setItem('painterly-jobs', JSON.stringify(['{job_id}']))")
        page.reload()
        page.wait_for_selector("body[data-ready]")
        wait_js(page, "/resumed at [1-9][0-9]? %/.test(document.querySelector('#run-status').textContent)")
        page.wait_for_selector("#run-status[data-status='done']", timeout=60_000)
        assert "finished (resumed at" in page.inner_text("#run-status")
        page.close()


def later_preview(page, iteration: int) -> None:
    """Wait until the preview shows an iteration after ``iteration``."""
    wait_js(page, f"Number(document.querySelector('#preview').dataset.iteration) > {iteration}", timeout=60)


def test_steering_a_run_from_its_page_then_rerunning_it_gives_the_same_pixels(browser, tmp_path):
    """The page that started a run moves its style-weight slider mid-run: the change shows on the plot
    and in the preview, is recorded with the result, and ``painterly rerun`` of the download repeats it.
    With PAINTERLY_SCREENSHOT set, the run panel with its sliders goes to web-steering.png beside it."""
    import httpx
    import numpy as np
    from click.testing import CliRunner
    from PIL import Image

    from painterly.cli import cli
    from painterly.images import demo_content

    with live_server(tmp_path / "data", checkpoint_every=0) as url:
        page, errors = open_page(browser, url)
        page.click("#styles .remove")
        page.click("#style-samples [data-sample='starry_night']")
        page.click("#style-samples [data-sample='the_scream']")
        start_tiny_run(page, 150)

        # the sliders: the steerable fields, a blend slider per style
        page.wait_for_selector("#steer:not([hidden])", timeout=60_000)
        assert page.input_value("#steer-style_weight") == "300"  # the middle of the log scale: 5
        assert page.locator("[id^='steer-style_blend-']").count() == 2
        assert page.inner_text("label[for='steer-color_strength']") == "color strength"
        page.focus("#steer-style_weight")
        page.keyboard.press("End")  # x 1000
        assert page.inner_text("output[for='steer-style_weight']") == "5000"

        # the change shows on the plot (a marker where it happened) and in a later preview
        wait_js(page, "document.querySelectorAll('#plot line.k').length === 1", timeout=60)
        changed = int(page.get_attribute("#plot line.k", "data-iteration"))
        assert "style weight → 5000 at iteration" in page.inner_text("#run-changes")
        later_preview(page, changed + 1)
        if os.environ.get("PAINTERLY_SCREENSHOT"):
            target = Path(os.environ["PAINTERLY_SCREENSHOT"]).with_name("web-steering.png")
            target.parent.mkdir(parents=True, exist_ok=True)
            later_preview(page, changed + 40)
            run, sliders = page.locator("#run").bounding_box(), page.locator("#steer").bounding_box()
            dx, dy = page.evaluate("[window.scrollX, window.scrollY]")  # boxes are in the viewport's
            clip = {**run, "x": run["x"] + dx, "y": run["y"] + dy}
            clip["height"] = sliders["y"] + sliders["height"] + 14 - run["y"]
            page.screenshot(path=str(target), clip=clip, full_page=True)

        # the record keeps it: the gallery entry, the settings download
        page.wait_for_selector("#run-status[data-status='done']", timeout=180_000)
        assert page.locator("#steer").is_hidden()
        assert "style weight → 5000" in page.inner_text("#run-changes")
        card = page.wait_for_selector(".card[data-status='done']")
        assert "steered (1)" in card.inner_text()
        job_id = card.get_attribute("data-id")
        with httpx.Client(base_url=url, timeout=30) as http:
            record = http.get(f"/api/jobs/{job_id}/settings.json").json()
            assert record["changes"] == [[changed, "style_weight", 5000.0]]
            result = tmp_path / "painterly.png"
            result.write_bytes(http.get(f"/api/jobs/{job_id}/result?download=true").content)
        assert errors == []
        page.close()

    # the download repeats to the same pixels: the recorded change is replayed
    again = tmp_path / "again.png"
    args = ["rerun", str(result), "--content", str(demo_content()), "--style", "starry_night"]
    args += ["--style", "the_scream", "-o", str(again), "--quiet"]
    outcome = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    assert np.array_equal(np.asarray(Image.open(result)), np.asarray(Image.open(again)))
