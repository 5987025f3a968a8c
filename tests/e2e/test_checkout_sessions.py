"""Checkout sessions: what a shop's backend makes for its checkout widget, and what the
widget may read with one token, from the shop's own pages only."""

from __future__ import annotations

from typing import Any

from tests.support import REDIRECT_URI, World

SHOP_ORIGIN = "https://shop.example"  # the origin of tests.support.REDIRECT_URI
WIDGET = "/v1/checkout-sessions/current/options"


def _session(world: World, **over: Any) -> dict[str, Any]:
    body = {
        "customer_id": world.ids["anna"],
        "date": world.at(0).date().isoformat(),
        "parcel": world.parcel(),
        **over,
    }
    result: dict[str, Any] = world.ok(world.post("shop", "/v1/checkout-sessions", body), 201)
    return result


def _read(world: World, token: str, origin: str | None = SHOP_ORIGIN) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if origin is not None:
        headers["Origin"] = origin
    return world.client.get(WIDGET, headers=headers)


def test_widget_reads_the_options_the_shop_would_get(world: World) -> None:
    """With a session's token alone the widget gets the same options (same ids) the shop
    gets from /checkout/options, and the answer is readable by the shop's origin only."""
    world.link_car()
    world.add_place()
    issued = _session(world)
    assert issued["token"].startswith("tdk_")
    response = _read(world, issued["token"])
    read = world.ok(response)
    assert response.headers["access-control-allow-origin"] == SHOP_ORIGIN
    assert "access-control-allow-credentials" not in response.headers
    assert read["trunk_possible"] and read["options"]
    assert read["parcel_reference"] == issued["parcel_reference"]
    direct = world.ok(
        world.post(
            "shop",
            "/v1/checkout/options",
            {
                "customer_id": world.ids["anna"],
                "date": world.at(0).date().isoformat(),
                "parcel": world.parcel(),
            },
        )
    )
    assert [o["id"] for o in read["options"]] == [o["id"] for o in direct["options"]]
    assert len({o["id"] for o in read["options"]}) == len(read["options"])


def test_no_options_come_with_the_reasons(world: World) -> None:
    """A customer without a car gets no option, and the widget reads exactly why."""
    issued = _session(world)
    read = world.ok(_read(world, issued["token"]))
    assert read["trunk_possible"] is False
    assert {"no_vehicle", "no_place"} <= {r["code"] for r in read["reasons"]}


def test_a_session_needs_the_customers_consent(world: World) -> None:
    """Without the consent token the shop gets no session (403 consent_missing)."""
    body = {
        "customer_id": world.ids["anna"],
        "date": world.at(0).date().isoformat(),
        "parcel": world.parcel(),
    }
    response = world.client.post(
        "/v1/checkout-sessions",
        headers={"Authorization": f"Bearer {world.keys['shop']}"},
        json=body,
    )
    assert response.status_code == 403
    assert response.json()["code"] == "consent_missing"


def test_unknown_expired_and_used_tokens_are_refused(world: World) -> None:
    """A token nobody issued, one past its 15 minutes and one whose parcel is booked are
    each a 401 with its own code; no token at all is a 401 too."""
    vehicle = world.link_car()
    office = world.add_place()
    assert _read(world, "tdk_nothing").json()["code"] == "checkout_session_unknown"
    missing = world.client.get(WIDGET, headers={"Origin": SHOP_ORIGIN})
    assert (missing.status_code, missing.json()["code"]) == (401, "checkout_session_missing")
    assert missing.headers["access-control-allow-origin"] == SHOP_ORIGIN

    old = _session(world)
    world.tick(15 * 60 + 1, step=60)
    expired = _read(world, old["token"])
    assert (expired.status_code, expired.json()["code"]) == (401, "checkout_session_expired")

    issued = _session(world)
    world.ok(_read(world, issued["token"]))
    delivery = world.book(vehicle, [(office, 16, 18)], reference=issued["parcel_reference"])
    assert delivery["parcel_ref"] == issued["parcel_reference"]
    used = _read(world, issued["token"])
    assert (used.status_code, used.json()["code"]) == (401, "checkout_session_used")


def test_another_sites_page_gets_nothing(world: World) -> None:
    """The right token sent from another origin (a page that stole it) is a 403; the
    shop's backend without an Origin header still reads it."""
    issued = _session(world)
    foreign = _read(world, issued["token"], origin="https://evil.example")
    assert (foreign.status_code, foreign.json()["code"]) == (403, "checkout_origin_refused")
    world.ok(_read(world, issued["token"], origin=None))


def test_revoking_the_consent_ends_the_session(world: World) -> None:
    """The customer revokes the shop's consent: its live session reads 403 at once."""
    issued = _session(world)
    consents = world.ok(world.get("anna", "/v1/me/consents"))["data"]
    world.ok(world.delete("anna", f"/v1/me/consents/{consents[0]['id']}"))
    refused = _read(world, issued["token"])
    assert (refused.status_code, refused.json()["code"]) == (403, "consent_missing")


def test_preflight_allows_the_authorization_header_only_there(world: World) -> None:
    """A browser's preflight for the widget's endpoint is answered (GET, Authorization, no
    credentials); the rest of the API answers no CORS at all."""
    asked = {"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "GET"}
    preflight = world.client.options(
        WIDGET, headers={**asked, "Access-Control-Request-Headers": "authorization"}
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SHOP_ORIGIN
    assert preflight.headers["access-control-allow-headers"] == "authorization"
    assert "access-control-allow-credentials" not in preflight.headers
    other = world.client.get("/v1/me", headers={"Origin": SHOP_ORIGIN, **world.auth("anna")})
    assert "access-control-allow-origin" not in other.headers
    assert REDIRECT_URI.startswith(SHOP_ORIGIN)


def test_the_widget_script_is_served_for_other_sites(world: World) -> None:
    """/widget/checkout.js is JavaScript, cacheable and revalidated, loadable from any
    site, and defines the <trunkdrop-checkout> element without eval."""
    response = world.client.get("/widget/checkout.js")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=600, must-revalidate"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "etag" in response.headers
    assert 'customElements.define("trunkdrop-checkout"' in response.text
    assert "eval(" not in response.text and "new Function" not in response.text
    again = world.client.get(
        "/widget/checkout.js", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304
