"""Request and response bodies of the agents' endpoints, and the identifiers they check."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tierline_shared.bus.events import Channel
from tierline_shared.policy import known_timezone

SkillName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{1,64}$")]
AgentIdStr = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
AgentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Presence = Literal["available", "busy", "away", "offline"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
PERIOD = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


ConnectionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
DeskRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DeskIds(BaseModel):
    """Who the agent is in one desk connection: ServiceNow ``sys_user`` sys_id and assignment
    group sys_id, Jira ``accountId``, or Zendesk user id and group id."""

    model_config = ConfigDict(extra="forbid")
    user: DeskRef
    group: DeskRef | None = None


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    tier: int = Field(ge=1, le=3)
    skills: dict[SkillName, Annotated[int, Field(ge=1, le=5)]] = Field(min_length=1,
                                                                       max_length=100)
    channels: dict[Channel, Annotated[int, Field(ge=1, le=50)]] = Field(
        min_length=1, description="concurrent capacity per channel")
    max_total: int | None = Field(default=None, ge=1, le=200,
                                  description="cap across channels; default their sum")
    presence: Presence = "available"
    languages: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=lambda: ["en"], min_length=1, max_length=20)
    team: Annotated[str, StringConstraints(max_length=200)] | None = None
    manager: Annotated[str, StringConstraints(max_length=200)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] = "UTC"
    working_hours: dict[Weekday, list[str]] | None = Field(
        default=None, description='e.g. {"mon": ["09:00-17:00"]}, in the agent\'s timezone')
    desk_ids: dict[ConnectionName, DeskIds] = Field(
        default_factory=dict, max_length=50, description="the agent's ids per desk connection "
        '(by its name), e.g. {"acme-snow": {"user": "<sys_user sys_id>", "group": '
        '"<assignment group sys_id>"}}; used to write assignments back')

    _zone = field_validator("timezone")(known_timezone)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for day, periods in (value or {}).items():
            for period in periods:
                if not PERIOD.match(period) or period[:5] >= period[6:]:
                    raise ValueError(f"{day}: {period!r} is not HH:MM-HH:MM, start first")
        return value

    @model_validator(mode="after")
    def _total(self) -> AgentIn:
        if self.max_total is None:
            self.max_total = sum(self.channels.values())
        return self


class AgentImportItem(AgentIn):
    id: AgentIdStr


class AgentImport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[AgentImportItem] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _unique(self) -> AgentImport:
        ids = [a.id for a in self.agents]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"agent ids appear twice: {', '.join(duplicates)}")
        return self


class AgentOut(AgentIn):
    id: str
    updated_at: datetime
    last_assigned_at: datetime | None = None
    active_by_channel: dict[str, int] = Field(description="offered and accepted work")
    active_total: int


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presence: Presence
