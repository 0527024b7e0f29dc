"""One way to page a list: ``limit`` and ``offset`` in, ``{items, total, limit, offset}`` out."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def page_of(item: type[BaseModel]) -> type[Page[Any]]:
    """``Page[item]`` whose documented example is one page holding the item's example."""
    extra = item.model_config.get("json_schema_extra")
    examples = extra.get("examples", []) if isinstance(extra, dict) else []
    example = {"items": examples[:1], "total": len(examples[:1]), "limit": 50, "offset": 0}
    config = ConfigDict(json_schema_extra={"examples": [example]})
    return type(f"{item.__name__}Page", (Page[item],),  # type: ignore[valid-type]
                {"model_config": config, "__module__": item.__module__})


async def fetch_page(session: AsyncSession, query: Select[Any], limit: int,
                     offset: int) -> tuple[list[Row[Any]], int]:
    """One page of ``query`` (which carries its own order) and how many rows it has in all."""
    total = await session.scalar(select(func.count()).select_from(
        query.order_by(None).subquery()))
    rows = (await session.execute(query.limit(limit).offset(offset))).all()
    return list(rows), int(total or 0)


def page(items: list[Any], total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": limit, "offset": offset}
