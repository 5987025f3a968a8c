"""Signing in to the pages with an e-mail link: the link goes out through the mail port,
works once, gives a hashed, expiring session in a strict cookie; every form and every
signed-in write needs its anti-forgery token; the API then answers as the party's key."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.test_customer_messages import Inbox
from tests.support import World
from trunkdrop.api.app import create_app
from trunkdrop.bootstrap import Platform
from trunkdrop.clock import ManualClock
from trunkdrop.config import Settings
from trunkdrop.web.models import BrowserSession


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    server = Inbox()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str, inbox: Inbox) -> Settings:
    return Settings(
        database_url=database_url,
        environment="test",
        workers_inline=False,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
    )


@pytest.fixture
def browser(platform: Platform) -> Iterator[TestClient]:
    """A client over https, as a browser keeps Secure cookies only there."""
    app = create_app(platform, run_workers=False)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sign_in(browser: TestClient, inbox: Inbox, email: str) -> str:
    """Ask for a link, follow it from the mail, confirm: returns the signed-in page's URL."""
    token = _form_token(browser.get("/app/signin").text)
    sent = browser.post("/app/signin", data={"email": email, "csrf": token})
    assert sent.status_code == 200 and "sign-in link is on its way" in sent.text
    mails = inbox.to(email)
    assert mails, "no mail"
    link = re.search(r"https://testserver(/app/signin/[\w-]+)", mails[-1].get_payload())
    assert link, mails[-1].get_payload()
    confirm = browser.get(link.group(1))
    done = browser.post(
        link.group(1), data={"csrf": _form_token(confirm.text)}, follow_redirects=True
    )
    assert done.status_code == 200
    return str(done.url)


def _set_email(world: World, who: str, email: str) -> None:
    world.ok(world.client.patch("/v1/me", headers=world.auth(who), json={"email": email}))


def test_a_customer_signs_in_by_link_and_the_api_answers_as_their_key(
    world: World, browser: TestClient, inbox: Inbox, platform: Platform
) -> None:
    """The mailed link signs Anna in: her page opens, the cookie is HttpOnly, Secure and
    SameSite=Strict, only its hash is stored, and /v1 with the cookie shows her own cars
    and nobody else's."""
    _set_email(world, "anna", "anna@example.org")
    annas = world.link_car("anna")
    world.link_car("ben")
    token = _form_token(browser.get("/app/signin").text)
    browser.post("/app/signin", data={"email": "anna@example.org", "csrf": token})
    link = re.search(
        r"https://testserver(/app/signin/[\w-]+)", inbox.to("anna@example.org")[-1].get_payload()
    )
    assert link
    confirm = browser.get(link.group(1))
    done = browser.post(
        link.group(1), data={"csrf": _form_token(confirm.text)}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    cookie = done.headers["set-cookie"]
    assert "td_session=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=strict" in cookie.lower()
    session_id = re.search(r"td_session=([^;]+)", cookie).group(1)  # type: ignore[union-attr]
    page = browser.get("/app", follow_redirects=True)
    assert str(page.url).endswith("/app/customer") and "anna" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    with platform.uow() as session:
        stored = session.scalars(select(BrowserSession.id_hash)).all()
    assert stored and session_id not in stored
    cars = browser.get("/v1/vehicles").json()["data"]
    assert [c["id"] for c in cars] == [annas["id"]]


def test_a_link_works_once_and_an_unknown_address_looks_the_same(
    world: World, browser: TestClient, inbox: Inbox
) -> None:
    """The second use of a link is refused; an address nobody has gets the same answer
    and no mail."""
    _set_email(world, "anna", "anna@example.org")
    token = _form_token(browser.get("/app/signin").text)
    unknown = browser.post("/app/signin", data={"email": "nobody@example.org", "csrf": token})
    assert "sign-in link is on its way" in unknown.text
    assert inbox.to("nobody@example.org") == []
    browser.post("/app/signin", data={"email": "anna@example.org", "csrf": token})
    path = re.search(
        r"https://testserver(/app/signin/[\w-]+)", inbox.to("anna@example.org")[-1].get_payload()
    ).group(1)  # type: ignore[union-attr]
    first = browser.post(path, data={"csrf": token}, follow_redirects=False)
    assert first.status_code == 303
    again = browser.post(path, data={"csrf": token})
    assert again.status_code == 200 and "used or expired" in again.text


def test_a_link_and_a_session_expire(
    world: World, browser: TestClient, inbox: Inbox, clock: ManualClock, platform: Platform
) -> None:
    """A link older than its lifetime signs nobody in; a session past its lifetime is
    signed out (the API answers 401)."""
    _set_email(world, "anna", "anna@example.org")
    token = _form_token(browser.get("/app/signin").text)
    browser.post("/app/signin", data={"email": "anna@example.org", "csrf": token})
    path = re.search(
        r"https://testserver(/app/signin/[\w-]+)", inbox.to("anna@example.org")[-1].get_payload()
    ).group(1)  # type: ignore[union-attr]
    clock.advance(platform.settings.signin_link_lifetime_s + 1)
    assert "used or expired" in browser.post(path, data={"csrf": token}).text
    sign_in(browser, inbox, "anna@example.org")
    assert browser.get("/v1/vehicles").status_code == 200
    clock.advance(platform.settings.session_lifetime_s + 1)
    assert browser.get("/v1/vehicles").status_code == 401
    assert browser.get("/app/customer", follow_redirects=False).headers["location"] == "/app/signin"


def test_forms_and_signed_in_writes_need_their_token(
    world: World, browser: TestClient, inbox: Inbox
) -> None:
    """A form without the page's token is refused; a write through the API with the cookie
    but without the X-CSRF-Token header is 403 csrf_failed, with it it goes through."""
    _set_email(world, "anna", "anna@example.org")
    browser.get("/app/signin")
    forged = browser.post("/app/signin", data={"email": "anna@example.org", "csrf": "guess"})
    assert forged.status_code == 401 and forged.json()["code"] == "csrf_failed"
    assert inbox.to("anna@example.org") == []
    sign_in(browser, inbox, "anna@example.org")
    page = browser.get("/app/customer").text
    header = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    body = {"label": "office", "latitude": 48.14, "longitude": 11.56, "address": "Karlstr. 1"}
    refused = browser.post("/v1/places", json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "csrf_failed")
    made = browser.post("/v1/places", json=body, headers={"X-CSRF-Token": header})
    assert made.status_code == 201, made.text
    signed_out = browser.post("/app/signout", data={"csrf": header}, follow_redirects=False)
    assert signed_out.status_code == 303
    assert browser.get("/v1/places").status_code == 401


def test_revoking_a_partys_keys_ends_its_sessions(
    world: World, browser: TestClient, inbox: Inbox
) -> None:
    """A driver who left: revoking their API keys also signs their browser out."""
    _set_email(world, "driver", "driver@example.org")
    sign_in(browser, inbox, "driver@example.org")
    assert browser.get("/v1/stops").status_code == 200
    world.ok(world.post("carrier", f"/v1/parties/{world.ids['driver']}/api-keys/revoke"))
    assert browser.get("/v1/stops").status_code == 401
    assert browser.get("/app/driver", follow_redirects=False).headers["location"] == "/app/signin"
