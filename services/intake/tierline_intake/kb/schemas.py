"""The knowledge base API's request and response bodies."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tierline_intake.tickets.schemas import Name64, Text200

ARTICLE_EXAMPLE: dict[str, Any] = {
    "title": "VPN disconnects every few minutes",
    "body": "Renew the VPN profile: remove the old profile, download the new one from the "
            "portal and reconnect.",
    "category": "network", "owner": "network-team"}
ARTICLE_OUT_EXAMPLE: dict[str, Any] = {
    **ARTICLE_EXAMPLE, "id": "5f0c1d3e-8a2b-4c6d-9e0f-1a2b3c4d5e6f", "status": "published",
    "source_ticket_id": None, "last_reviewed_at": "2026-11-24T09:00:00Z",
    "created_at": "2026-11-24T09:00:00Z", "updated_at": "2026-11-24T09:00:00Z"}
Body20k = Annotated[str, Field(min_length=1, max_length=20000)]


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ARTICLE_EXAMPLE]})
    title: Text200
    body: Body20k
    category: Name64 | None = None
    owner: Text200
    last_reviewed_at: AwareDatetime | None = Field(
        default=None, description="when it was last reviewed; default now")


class ArticleOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ARTICLE_OUT_EXAMPLE]})
    id: str
    title: str
    body: str
    category: str | None
    owner: str
    status: Literal["published", "proposed", "retired"]
    source_ticket_id: str | None
    last_reviewed_at: str
    created_at: str
    updated_at: str
    deflections: int | None = Field(default=None, description="contacts and tickets it "
                                    "resolved before any agent")
    days_since_review: int | None = None


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "by": "network-team", "action": "review"}]})
    by: Text200
    action: Literal["review", "publish", "retire"] = Field(
        default="review", description="review: confirm it is current; publish: accept a "
        "proposed article; retire: stop suggesting it")


class SuggestionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "article_id": ARTICLE_OUT_EXAMPLE["id"], "title": ARTICLE_EXAMPLE["title"],
        "score": 0.61}]})
    article_id: str
    title: str
    score: float
