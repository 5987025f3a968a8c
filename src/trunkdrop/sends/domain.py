"""The carrier's price list and which class a letter or parcel falls in. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PostageClass:
    """One line of the price list: what fits it (kind, weight, sides) and its price."""

    name: str
    kind: str  # letter | parcel
    max_weight_g: int
    max_dims_cm: tuple[int, int, int]
    price_cents: int


# A carrier's usual domestic list (settings: TRUNKDROP_POSTAGE_CLASSES as JSON).
DEFAULT_PRICE_LIST: tuple[PostageClass, ...] = (
    PostageClass("letter", "letter", 20, (24, 13, 1), 95),
    PostageClass("large_letter", "letter", 1_000, (35, 25, 5), 275),
    PostageClass("parcel_s", "parcel", 2_000, (35, 25, 10), 449),
    PostageClass("parcel_m", "parcel", 10_000, (60, 30, 15), 699),
    PostageClass("parcel_l", "parcel", 31_500, (120, 60, 60), 1_649),
)


def postage_class(
    *, kind: str, dims_cm: tuple[int, int, int], weight_g: int, price_list: tuple[PostageClass, ...]
) -> PostageClass | None:
    """The cheapest class of `kind` the item fits (sides compared largest to largest), or
    None when none does."""
    sides = sorted(dims_cm, reverse=True)
    fitting = [
        c
        for c in price_list
        if c.kind == kind
        and weight_g <= c.max_weight_g
        and all(s <= m for s, m in zip(sides, sorted(c.max_dims_cm, reverse=True), strict=True))
    ]
    return min(fitting, key=lambda c: c.price_cents, default=None)
