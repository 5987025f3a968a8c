"""Browser tests: one trunkdrop server per module (uvicorn in a thread, SQLite, a manual
clock, a local SMTP server for sign-in links), driven by Playwright through Debian's
Chromium. Skipped where /usr/bin/chromium or Playwright is missing; never downloads a
browser. With TRUNKDROP_SCREENS=DIR (`make screens`) each page visited is saved there."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DAY_START
from tests.integration.test_customer_messages import Inbox
from tests.support import World
from trunkdrop.api.app import create_app
from trunkdrop.bootstrap import Platform, bootstrap
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WAIT_MS = 15_000  # every wait is bounded: a step that does not happen fails the test

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install chromium)", allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Site:
    """The running server, its platform and clock, a world of parties, the mailbox."""

    url: str
    platform: Platform
    clock: ManualClock
    world: World
    inbox: Inbox
    browser: Any
    screens: Path | None
    pages: list[Any] = field(default_factory=list)

    def page(self, **context: Any) -> Any:
        """A fresh browser context (its own cookies and storage) with one page, which
        records uncaught script errors and CSP refusals."""
        ctx = self.browser.new_context(
            viewport={"width": 390, "height": 844}, timezone_id="Europe/Berlin", **context
        )
        ctx.set_default_timeout(WAIT_MS)
        page = ctx.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        # A refused answer (a 404 "no stop left") is the page's business; a script the
        # CSP blocked is not.
        page.on(
            "console",
            lambda m: page.errors.append(m.text) if "Content Security Policy" in m.text else None,
        )
        self.pages.append(ctx)
        return page

    def sign_in(self, page: Any, who: str) -> None:
        """Sign `who` in as a person does: ask for a link, open it from the mail, confirm."""
        email = f"{who}@example.org"
        self.world.ok(
            self.world.client.patch("/v1/me", headers=self.world.auth(who), json={"email": email})
        )
        before = len(self.inbox.to(email))
        page.goto(f"{self.url}/app/signin")
        page.get_by_label("Your e-mail address").fill(email)
        page.get_by_role("button", name="Send me a sign-in link").click()
        page.get_by_text("a sign-in link is on its way").wait_for()
        mails = self.inbox.to(email)
        assert len(mails) == before + 1
        link = re.search(r"http://\S+/app/signin/[\w-]+", mails[-1].get_payload())
        assert link, mails[-1].get_payload()
        page.goto(link.group(0))
        page.get_by_role("button", name="Sign in to trunkdrop").click()
        page.wait_for_url(re.compile(r"/app/\w+$"))

    def screen(self, page: Any, name: str) -> None:
        if self.screens is not None:
            self.screens.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(self.screens / f"{name}.png"), full_page=True)


def serious_violations(page: Any) -> list[str]:
    """axe-core on the page as it stands: the serious and critical violations. Injected
    through the DevTools protocol, which the page's CSP does not govern."""
    page.evaluate(AXE.read_text())
    found: list[str] = page.evaluate(
        """async () => (await axe.run(document)).violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => `${v.id}: ${v.help} (${v.nodes.map(n => n.target).join(', ')})`)"""
    )
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn

    inbox = Inbox()
    database = tmp_path_factory.mktemp("browser") / "trunkdrop.db"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        environment="test",
        workers_inline=False,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
    )
    clock = ManualClock(DAY_START)
    platform = bootstrap(settings, clock=clock)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(platform, run_workers=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with TestClient(create_app(platform, run_workers=False)) as client:
        world = World(platform, client, clock)
        started = threading.Event()
        for _ in range(200):  # bounded: 10 s
            if server.started:
                started.set()
                break
            started.wait(0.05)
        assert server.started, "the server did not start"
        screens = os.environ.get("TRUNKDROP_SCREENS")
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            site = Site(
                f"http://127.0.0.1:{port}",
                platform,
                clock,
                world,
                inbox,
                browser,
                Path(screens) if screens else None,
            )
            try:
                yield site
            finally:
                for ctx in site.pages:
                    ctx.close()
                browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    platform.close()
    inbox.stop()
