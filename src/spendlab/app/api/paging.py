"""Pagination: every list takes ``page`` (1-based) and ``page_size`` and returns
``{"items": [...], "total": N, "page": p, "page_size": s}``."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")
MAX_PAGE_SIZE = 500


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


class PageParams(BaseModel):
    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")] = 50,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


def paginate(items: list[Any], p: PageParams) -> dict[str, Any]:
    return {
        "items": items[p.offset : p.offset + p.page_size],
        "total": len(items),
        "page": p.page,
        "page_size": p.page_size,
    }
