"""REST endpoints of the knowledge base: articles, suggestions, reviews, stale articles."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException, Query
from fastapi.responses import JSONResponse

from tierline_intake.http_errors import ERRORS, IdempotencyKey, key_reused
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.kb.schemas import (
    ArticleIn,
    ArticleOut,
    ReviewIn,
    SuggestionOut,
)
from tierline_intake.kb.service import (
    PUBLISHED,
    article_out,
    change_article,
    create_article,
    deflections,
    get_article,
    list_articles,
    refresh_kb_index,
    stale_articles,
    suggest,
)
from tierline_shared.auth.deps import require
from tierline_shared.pagination import Limit, Offset, page_of
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1/kb", tags=["knowledge base"])


def _not_found(article_id: UUID) -> HTTPException:
    return HTTPException(404, error_body("not_found", f"no article {article_id}"))


@router.post("/articles", status_code=201, response_model=ArticleOut, responses=ERRORS,
             dependencies=[require("kb:write")])
async def post_article(runtime: RuntimeDep, actor: ActorDep, body: ArticleIn,
                       idempotency_key: IdempotencyKey = None) -> Any:
    """Publish an article; it is suggested from now on."""
    async def effect(session: Any) -> tuple[int, dict[str, Any]]:
        row = await create_article(runtime, session, **body.model_dump())
        return 201, article_out(row)

    try:
        status, payload, replayed = await run_once(
            runtime, key=idempotency_key, actor=actor, scope="POST /v1/kb/articles",
            payload=body.model_dump(mode="json"), effect=effect)
    except KeyReused:
        raise key_reused() from None
    await refresh_kb_index(runtime)
    headers = {"Location": f"/v1/kb/articles/{payload['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(payload, status_code=status, headers=headers)


@router.get("/articles", response_model=page_of(ArticleOut), responses={422: ERRORS[422]},
            dependencies=[require("kb:read")])
async def get_articles(session: SessionDep,
                       status: Literal["published", "proposed", "retired"] | None = None,
                       category: Annotated[str | None, Query(max_length=200)] = None,
                       limit: Limit = 50, offset: Offset = 0) -> Any:
    """Articles, oldest first; ``status=proposed`` lists proposals awaiting review."""
    return await list_articles(session, status, category, limit, offset)


@router.get("/articles/{article_id}", response_model=ArticleOut,
            responses={404: ERRORS[404], 422: ERRORS[422]},
            dependencies=[require("kb:read")])
async def get_one(article_id: UUID, session: SessionDep) -> Any:
    row = await get_article(session, article_id)
    if row is None:
        raise _not_found(article_id)
    return {**article_out(row), "deflections": await deflections(session, article_id)}


@router.put("/articles/{article_id}", response_model=ArticleOut, responses=ERRORS,
            dependencies=[require("kb:write")])
async def put_article(article_id: UUID, body: ArticleIn, runtime: RuntimeDep) -> Any:
    """Replace an article's text; editing it counts as reviewing it."""
    values = body.model_dump()
    values["last_reviewed_at"] = values["last_reviewed_at"] or runtime.clock.now()
    async with runtime.transaction() as uow:
        row = await change_article(runtime, uow.session, article_id, **values)
    if row is None:
        raise _not_found(article_id)
    await refresh_kb_index(runtime)
    return article_out(row)


@router.post("/articles/{article_id}/reviews", response_model=ArticleOut, responses=ERRORS,
             dependencies=[require("kb:write")])
async def review(article_id: UUID, runtime: RuntimeDep,
                 body: Annotated[ReviewIn, Body()]) -> Any:
    """Mark it reviewed now, publish a proposal, or retire it."""
    values: dict[str, Any] = {"last_reviewed_at": runtime.clock.now()}
    if body.action != "review":
        values["status"] = {"publish": PUBLISHED, "retire": "retired"}[body.action]
    async with runtime.transaction() as uow:
        row = await change_article(runtime, uow.session, article_id, **values)
    if row is None:
        raise _not_found(article_id)
    await refresh_kb_index(runtime)
    return article_out(row)


@router.get("/suggestions", response_model=list[SuggestionOut], responses={422: ERRORS[422]},
            dependencies=[require("kb:read")])
async def get_suggestions(runtime: RuntimeDep, session: SessionDep,
                          q: Annotated[str, Query(min_length=1, max_length=5000)]) -> Any:
    """The top 3 published articles for these words (TF-IDF cosine), best first."""
    return await suggest(runtime, session, q)


@router.get("/stale", response_model=page_of(ArticleOut), responses={422: ERRORS[422]},
            dependencies=[require("kb:read")])
async def get_stale(runtime: RuntimeDep, session: SessionDep,
                    limit: Limit = 50, offset: Offset = 0) -> Any:
    """Published articles not reviewed within 90 days, the longest unreviewed first."""
    return await stale_articles(runtime, session, limit, offset)
