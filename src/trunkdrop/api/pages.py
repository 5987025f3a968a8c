"""Paging every list endpoint: `limit` and `cursor` in, `data`, `has_more`, `next_cursor` out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query

from trunkdrop.schemas import ListPage
from trunkdrop.store.pages import DEFAULT_LIMIT, MAX_LIMIT, Page

T = TypeVar("T")
P = TypeVar("P", bound=ListPage[Any])


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    cursor: str | None


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(max_length=400, description="`next_cursor` of the page before; none: the first"),
    ] = None,
) -> PageRequest:
    return PageRequest(limit, cursor)


PageParams = Annotated[PageRequest, Depends(page_request)]


def page_read(page_type: type[P], page: Page[T], read: Callable[[T], Any]) -> P:
    """The API's page of `page`, each item shown by `read`."""
    return page_type(
        data=[read(item) for item in page.items],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )
