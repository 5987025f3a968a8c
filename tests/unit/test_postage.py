"""The price list: the cheapest class of the right kind that takes the item."""

from __future__ import annotations

from trunkdrop.sends.domain import DEFAULT_PRICE_LIST, postage_class


def test_the_cheapest_fitting_class_is_chosen() -> None:
    """A standard letter is 'letter'; a thick one 'large_letter'; a 3 kg box 'parcel_m'."""
    pick = {"price_list": DEFAULT_PRICE_LIST}
    letter = postage_class(kind="letter", dims_cm=(22, 11, 1), weight_g=20, **pick)
    thick = postage_class(kind="letter", dims_cm=(22, 11, 3), weight_g=200, **pick)
    box = postage_class(kind="parcel", dims_cm=(30, 20, 12), weight_g=3_000, **pick)
    assert (letter and letter.name, thick and thick.name, box and box.name) == (
        "letter",
        "large_letter",
        "parcel_m",
    )


def test_sides_are_compared_largest_to_largest_and_kinds_never_mix() -> None:
    """A letter given on its side still fits; a parcel never gets a letter price; too
    heavy for every class is None."""
    pick = {"price_list": DEFAULT_PRICE_LIST}
    turned = postage_class(kind="letter", dims_cm=(1, 11, 22), weight_g=20, **pick)
    assert turned is not None and turned.name == "letter"
    flat = postage_class(kind="parcel", dims_cm=(22, 11, 1), weight_g=20, **pick)
    assert flat is not None and flat.kind == "parcel"
    assert postage_class(kind="parcel", dims_cm=(30, 20, 10), weight_g=40_000, **pick) is None
