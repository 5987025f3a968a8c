"""A shop sees a customer's places and books into their trunk only with the customer's
consent (OAuth 2 authorisation code + PKCE), and not after the customer revoked it."""

from __future__ import annotations

from typing import Any

from tests.support import REDIRECT_URI, World


def _checkout(world: World, headers: dict[str, str]) -> Any:
    body = {"customer_id": world.ids["anna"], "date": world.at(0).date().isoformat(),
            "parcel": world.parcel()}  # fmt: skip
    return world.client.post("/v1/checkout/options", json=body, headers=headers)


def _book(
    world: World, vehicle: dict[str, Any], place: dict[str, Any], headers: dict[str, str]
) -> Any:
    body = {
        "customer_id": world.ids["anna"],
        "vehicle_id": vehicle["id"],
        "retailer_reference": "ORD-C1",
        "parcel": world.parcel(),
        "itinerary": [{"place_id": place["id"], "window_start": world.at(10).isoformat(),
                       "window_end": world.at(12).isoformat()}],
    }  # fmt: skip
    return world.client.post("/v1/deliveries", json=body, headers=headers)


def test_without_consent_403_with_it_allowed_after_revocation_403(world: World) -> None:
    """No consent: 403 consent_missing on places, checkout and booking; after the OAuth flow
    all three succeed; once anna revokes, 403 again at once."""
    vehicle, place = world.link_car(), world.add_place()
    places = f"/v1/customers/{world.ids['anna']}/places"
    bare = {"Authorization": f"Bearer {world.keys['other-shop']}"}
    for response in (
        world.client.get(places, headers=bare),
        _checkout(world, bare),
        _book(world, vehicle, place, bare),
    ):
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "consent_missing"

    token = world.consent("other-shop", "anna")
    assert token["token_type"] == "Bearer" and "deliveries:book" in token["scope"]
    allowed = {**bare, "Trunkdrop-Consent": token["access_token"]}
    assert [p["id"] for p in world.ok(world.client.get(places, headers=allowed))["data"]] == [
        place["id"]
    ]
    world.ok(_checkout(world, allowed))
    world.ok(_book(world, vehicle, place, allowed), 201)

    [consent] = world.ok(world.get("anna", "/v1/me/consents"))["data"]
    assert consent["retailer_id"] == world.ids["other-shop"] and consent["revoked_at"] is None
    world.ok(world.delete("anna", f"/v1/me/consents/{consent['id']}"))
    for response in (world.client.get(places, headers=allowed), _checkout(world, allowed)):
        assert response.status_code == 403 and response.json()["code"] == "consent_missing"


def test_a_consent_token_works_only_for_its_shop_and_customer(world: World) -> None:
    """anna's token for other-shop opens nothing for shop, nor ben's places for other-shop."""
    token = world.consent("other-shop", "anna")["access_token"]
    stolen = {"Authorization": f"Bearer {world.keys['shop']}", "Trunkdrop-Consent": token}
    response = world.client.get(f"/v1/customers/{world.ids['anna']}/places", headers=stolen)
    assert response.status_code == 403
    mine = {"Authorization": f"Bearer {world.keys['other-shop']}", "Trunkdrop-Consent": token}
    response = world.client.get(f"/v1/customers/{world.ids['ben']}/places", headers=mine)
    assert response.status_code == 403


def test_a_scope_not_granted_is_refused(world: World) -> None:
    """A consent for places:read only does not let the shop book."""
    token = world.consent("other-shop", "anna", scope="places:read")["access_token"]
    headers = {"Authorization": f"Bearer {world.keys['other-shop']}", "Trunkdrop-Consent": token}
    assert _checkout(world, headers).status_code == 403


def test_a_code_without_its_verifier_or_used_twice_gets_no_token(world: World) -> None:
    """PKCE: a stolen code without the verifier gets invalid_grant, and a code is used once."""
    code, verifier = world.authorize("other-shop", "anna")
    client = world.oauth_client("other-shop")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": client["client_id"], "client_secret": client["client_secret"]}  # fmt: skip
    wrong = world.client.post("/oauth/token", data={**form, "code_verifier": "x" * 50})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    again = world.client.post("/oauth/token", data={**form, "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert world.ok(world.get("anna", "/v1/me/consents"))["data"] == []


def test_an_authorisation_request_without_pkce_is_refused(world: World) -> None:
    """A shop that sends no S256 code_challenge gets no code."""
    client = world.oauth_client("other-shop")
    response = world.client.post(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": client["client_id"],
            "redirect_uri": REDIRECT_URI,
            "scope": "places:read",
        },
        data={"decision": "approve"},
        headers=world.auth("anna"),
        follow_redirects=False,
    )
    assert "code=" not in response.headers.get("location", "")
    assert response.status_code in (302, 400)
