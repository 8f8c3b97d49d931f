"""In a browser (headless Chromium from Debian, driven by Playwright): a student logs in, opens the
Assignments tab, fetches 03.0, opens the notebook, presses Check and reads the verdicts, and
submits; 03.0 is a self-check assignment here, so the result shows in the student's list and they
open the feedback; the instructor opens the formgrader from the hub's Services menu, collects, and sees the submission.

Screenshots go to ``artifacts/hub-browser/`` (the ones in docs/images/ are copies of them).
The platform is the session's ``selfcheck_hub`` (tests/hub/fixtures.py), shared with the
self-check test.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from autograder.hub.layout import REPO
from tests.hub.client import HubUser
from tests.hub.platform import ASSIGNMENT, SOLUTION, LoopbackPlatform

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.hub.fixtures"]

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; `make test` installs it (apt-get install chromium)
ARTIFACTS = REPO / "artifacts" / "hub-browser"
SLOW_MS = 120_000  # a server starting on a busy 2-core machine


@pytest.fixture(scope="module")
def hub(selfcheck_hub: LoopbackPlatform) -> LoopbackPlatform:
    """The session's self-check platform (its third student is this module's)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (or: apt-get install chromium)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return selfcheck_hub


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _login(browser: Browser, hub: LoopbackPlatform, name: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(SLOW_MS)
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", hub.passwords[name])
    return page


def test_student_fetches_opens_and_submits(hub: LoopbackPlatform, browser: Browser) -> None:
    """Log in, Nbgrader > Assignment List, Fetch, open the notebook, Submit: the list shows it submitted."""
    student = hub.students[2]
    page = _login(browser, hub, student)
    _shot(page, "01-login")
    began = time.monotonic()
    page.click("#login_submit")
    page.wait_for_selector("#jp-main-dock-panel")  # JupyterLab, in the student's own server
    print(f"\nlogin to JupyterLab: {time.monotonic() - began:.1f} s")
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    menu = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    assert [m for m in menu if m] == ["Assignment List"]  # no formgrader, no create-assignment
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    released = page.locator("#released_assignments_list .list_item", has_text=ASSIGNMENT)
    expect(released).to_be_visible()
    _shot(page, "02-student-assignments")
    released.locator("button", has_text="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item", has_text=ASSIGNMENT).first
    expect(fetched).to_be_visible()
    # the student's work: the solution, saved as the notebook they fetched
    user = HubUser(hub.url, student, hub.passwords[student]).login()
    user.open_lab()
    user.put_notebook(f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb", json.loads(nbformat.writes(nbformat.read(SOLUTION, 4))))
    fetched.locator("a.assignment-notebooks-link").click()
    page.locator("#fetched_assignments_list .nested_list_item a", has_text=ASSIGNMENT).click()
    expect(page.locator(".jp-NotebookPanel .jp-Cell").first).to_be_visible()
    expect(page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h1", has_text="Gradient descent").first).to_be_visible()
    _shot(page, "03-student-notebook")
    # Check: the notebook as it is, graded with the hidden checks in a warm sandbox, without submitting
    check = page.locator(".jp-NotebookPanel .jp-Toolbar").get_by_text("Check", exact=True).first
    expect(check).to_be_visible()
    began = time.monotonic()
    check.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog.get_by_text(f"Check: {ASSIGNMENT}")).to_be_visible()
    expect(dialog.locator("tr", has_text="test_mse_grad")).to_contain_text("passed")
    expect(dialog).to_contain_text("21")
    print(f"Check answered in {time.monotonic() - began:.1f} s")
    _shot(page, "03b-student-check")
    dialog.locator("button").last.click()
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel", has_text="Assignments").click()
    page.locator("#fetched_assignments_list button", has_text="Submit").click()
    expect(page.locator("#submitted_assignments_list .list_item", has_text=ASSIGNMENT).first).to_be_visible()
    _shot(page, "04-student-submitted")
    assert any(p.name.startswith(f"{student}+{ASSIGNMENT}+") for p in hub.inbound.iterdir())


def test_student_reads_self_check_feedback(hub: LoopbackPlatform, browser: Browser) -> None:
    """Within a minute the list offers the feedback; fetched, it opens and shows the score."""
    page = _login(browser, hub, hub.students[2])
    page.click("#login_submit")
    page.wait_for_selector("#jp-main-dock-panel")
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    submitted = page.locator("#submitted_assignments_list")
    deadline = time.monotonic() + 60
    while True:  # the list refreshes when asked; the self-check service answers within a minute
        try:
            expect(submitted).to_contain_text("feedback available to fetch", timeout=3000)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                _shot(page, "05-student-feedback-missing")
                raise
            page.locator("#refresh_assignments_list").click()
    _shot(page, "05-student-feedback-ready")
    submitted.locator("button", has_text="Fetch Feedback").click()
    submitted.get_by_text("view feedback").click()  # the file browser goes to the feedback's folder
    page.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html").dblclick()
    feedback = page.frame_locator(".jp-HTMLViewer iframe")
    expect(feedback.get_by_text("Score: 21.0 / 21.0").first).to_be_visible()
    _shot(page, "06-student-feedback")


def test_instructor_sees_submission_in_formgrader(hub: LoopbackPlatform, browser: Browser) -> None:
    """Log in, Services > lesson03 opens the formgrader; Collect; the submission is listed."""
    page = _login(browser, hub, hub.instructor)
    page.click("#login_submit")
    page.wait_for_url("**/hub/home")  # instructors land on the hub's home page
    page.locator("a.dropdown-toggle", has_text="Services").click()
    page.locator(".dropdown-menu a", has_text=hub.platform.course_id).click()
    row = page.locator("tr", has_text=ASSIGNMENT)
    expect(row).to_be_visible()
    _shot(page, "07-formgrader-assignments")
    row.locator("td.collect a").click()
    done = page.locator("#success-modal")
    expect(done).to_contain_text(f"Successfully collected submissions of '{ASSIGNMENT}'")
    done.locator(".modal-footer button", has_text="OK").click()
    # other tests on this shared platform may have submitted too: this student's row is what counts
    expect(row.locator("td.num-submissions")).to_have_text(re.compile(r"^[1-9][0-9]*$"))
    row.locator("td.num-submissions a").click()
    expect(page.locator("tr", has_text=hub.students[2])).to_be_visible()
    _shot(page, "08-formgrader-submissions")
