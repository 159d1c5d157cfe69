"""Steps shared by the browser walks: sign in through the form, save a full-page screenshot."""
from __future__ import annotations

from pathlib import Path

from tests.factories import PASSWORD

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"


def shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def login(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.locator("main input[name=username]").fill(username)
    page.locator("main input[name=password]").fill(password)
    page.locator("main form [type=submit]").click()
    page.wait_for_url("**/dashboard")
