"""The checkout widget on a shop's page, in a real browser: the page is served by a small
shop server on another port (another origin, under a strict CSP of its own); the shop's
backend (trunkdrop.client) gets the customer's consent and a checkout session, the
customer picks a window with the keyboard, the shop books it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.browser.conftest import Site, serious_violations
from trunkdrop.client import Client, pkce_pair

SHOP_SCRIPT = b"""
document.addEventListener("trunkdrop-choice", (event) => {
  document.getElementById("chosen").textContent = "You chose " + event.detail.optionIds.join(", ");
});
"""


class ShopSite:
    """A shop's checkout page with the widget, and its order form's endpoint."""

    def __init__(self, trunkdrop_url: str) -> None:
        self.trunkdrop_url = trunkdrop_url
        self.token = ""
        self.orders: list[dict[str, list[str]]] = []
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/shop.js":
                    self._send(200, SHOP_SCRIPT, "text/javascript")
                else:
                    self._send(200, shop.checkout_page(), "text/html; charset=utf-8")

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                shop.orders.append(parse_qs(self.rfile.read(length).decode()))
                page = b'<!doctype html><html lang="en"><title>Thanks</title><main><h1>Thank you for your order</h1></main></html>'
                self._send(200, page, "text/html; charset=utf-8")

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                # As strict as a shop can be: scripts and connections to trunkdrop only.
                self.send_header(
                    "content-security-policy",
                    f"default-src 'none'; script-src 'self' {shop.trunkdrop_url}; "
                    f"connect-src {shop.trunkdrop_url}; style-src 'self'; form-action 'self'",
                )
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def checkout_page(self) -> bytes:
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout - Corner Shop</title>
<script src="{self.trunkdrop_url}/widget/checkout.js" defer></script>
<script src="/shop.js" defer></script></head>
<body><main><h1>Checkout</h1>
<form method="post" action="/order">
<trunkdrop-checkout session="{self.token}"></trunkdrop-checkout>
<p id="chosen" role="status"></p>
<button type="submit">Place order</button>
</form></main></body></html>""".encode()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def shop_site(site: Site) -> Iterator[ShopSite]:
    shop = ShopSite(site.url)
    yield shop
    shop.stop()


def test_shop_page_with_the_widget_books_the_chosen_window(site: Site, shop_site: ShopSite) -> None:
    """The widget on another origin shows Anna's windows; she moves to the second with the
    arrow key; the page hears the choice, the form posts its option id, and the shop's
    booking of that option lands in exactly that window. After the booking the session is
    used up, and the widget says so. No script error, no CSP refusal, no serious axe
    violation."""
    world = site.world
    world.link_car()
    world.add_place()
    redirect_uri = f"{shop_site.url}/trunkdrop/callback"
    shop = Client(site.url, world.keys["shop"])
    anna = Client(site.url, world.keys["anna"])
    oauth = shop.register_oauth_client(name="Corner Shop", redirect_uris=[redirect_uri])
    verifier, challenge = pkce_pair()
    code = anna.approve_shop(
        client_id=oauth["client_id"],
        redirect_uri=redirect_uri,
        scope="deliveries:book",
        code_challenge=challenge,
    )
    consent = shop.consent_token(
        client=oauth, code=code, redirect_uri=redirect_uri, code_verifier=verifier
    )
    parcel = world.parcel()
    day = world.at(0).date().isoformat()
    order = {"customer_id": world.ids["anna"], "date": day, "parcel": parcel}
    shop_site.token = shop.create_checkout_session(consent=consent, **order)["token"]

    page = site.page()
    page.goto(shop_site.url)
    radios = page.get_by_role("radio")
    radios.first.wait_for()
    assert radios.count() >= 2
    radios.first.focus()
    page.keyboard.press("ArrowDown")  # a radio group: the arrow key moves and selects
    page.get_by_text("You chose opt_").wait_for()
    chosen_id = page.locator("trunkdrop-checkout input[type=hidden]").input_value()
    assert page.get_by_text(f"You chose {chosen_id}").count() == 1
    site.screen(page, "widget")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Place order").click()
    page.get_by_text("Thank you for your order").wait_for()
    assert shop_site.orders == [{"trunkdrop_option": [chosen_id]}]

    # The shop's backend books the option it was handed, with its consent token.
    offered = shop.checkout_options(consent=consent, **order)["options"]
    chosen = next(o for o in offered if o["id"] == chosen_id)
    assert chosen == offered[1]
    delivery = shop.book(
        consent=consent,
        customer_id=world.ids["anna"],
        vehicle_id=chosen["vehicle_id"],
        retailer_reference="ORD-WIDGET-1",
        parcel=parcel,
        itinerary=[
            {k: chosen[k] for k in ("place_id", "window_start", "window_end")},
        ],
    )
    booked = delivery["itinerary"][0]
    assert datetime.fromisoformat(booked["window_start"]) == datetime.fromisoformat(
        chosen["window_start"]
    )
    assert booked["place_id"] == chosen["place_id"]

    page.goto(shop_site.url)
    page.get_by_text("this checkout session is over").wait_for()
    assert page.errors == []  # type: ignore[attr-defined]
