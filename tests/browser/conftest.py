"""Browser fixtures: the app served by werkzeug in a background thread, and Debian's chromium
driven by Playwright (no browser download: ``executable_path='/usr/bin/chromium'``)."""
from __future__ import annotations

import os
import threading

import pytest

CHROMIUM = os.environ.get("GOVMALL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def live_server(app):
    """Base URL of the session app served on a free port (threaded, stopped at the end)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="govmall-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Open pages at a viewport size; every context is closed after the test."""
    contexts = []

    def make(width=1366, height=900):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                      base_url=live_server)
        context.set_default_timeout(15000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
