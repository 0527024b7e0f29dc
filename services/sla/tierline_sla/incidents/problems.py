"""Problem candidates: incidents that recur become a problem linking them. Pure.

On each new incident, recent incidents (within ``window_days``) are grouped with it by the
bases in ``by``, in order: the same configuration item, the same service, the same category
(a weak signal, so it needs twice ``min_incidents``), or a similar title (TF-IDF cosine
similarity at or above ``text_similarity``). The first group that reaches its size is the
recurrence; its key names it so one open problem collects the group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from tierline_sla.incidents.major import TicketFacts

Basis = Literal["configuration_item", "service", "category", "text"]


class ProblemPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_days: int = Field(default=30, gt=0, le=365)
    min_incidents: int = Field(default=3, ge=2)
    text_similarity: float = Field(default=0.6, gt=0, le=1)
    by: list[Basis] = Field(default_factory=lambda: ["configuration_item", "service",
                                                     "category", "text"])


@dataclass(frozen=True)
class Recurrence:
    basis: Basis
    key: str
    reason: str
    ticket_ids: tuple[UUID, ...]


def _norm(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def needed(basis: Basis, policy: ProblemPolicy) -> int:
    """How many incidents make a group on ``basis`` (a category is a weak signal: twice)."""
    return policy.min_incidents * (2 if basis == "category" else 1)


def same_values(ticket: TicketFacts, basis: Basis, values: Iterable[str | None]) -> list[str]:
    """Those of ``values`` (as stored) that name the ticket's own ``basis`` value."""
    mine = _norm(getattr(ticket, basis))
    return [v for v in values if v is not None and mine is not None and _norm(v) == mine]


def deciding_basis(ticket: TicketFacts, counts: Mapping[Basis, Mapping[str | None, int]],
                   policy: ProblemPolicy) -> Basis | None:
    """What :func:`find_recurrence` needs to read, from how many other recent incidents
    carry each stored value of each attribute basis (``counts``): the attribute basis whose
    group it settles on (only that group's incidents are needed), ``"text"`` when it gets
    to the titles first (every recent incident is needed), or None when nothing recurs."""
    if ticket.ticket_type != "incident":
        return None
    for basis in policy.by:
        if basis == "text":
            return "text"
        by_value = counts.get(basis, {})
        if 1 + sum(by_value[v] for v in same_values(ticket, basis, by_value)) >= needed(
                basis, policy):
            return basis
    return None


def find_recurrence(ticket: TicketFacts, recent: Sequence[TicketFacts],
                    policy: ProblemPolicy) -> Recurrence | None:
    if ticket.ticket_type != "incident":
        return None
    since = ticket.created_at - timedelta(days=policy.window_days)
    others = [t for t in recent if t.ticket_type == "incident" and t.ticket_id != ticket.ticket_id
              and since <= t.created_at <= ticket.created_at]
    window = f"within {policy.window_days} days"
    for basis in policy.by:
        if basis == "text":
            found = _similar(ticket, others, policy)
            if found is not None:
                return found
            continue
        mine = _norm(getattr(ticket, basis))
        if mine is None:
            continue
        group = [ticket, *(t for t in others if _norm(getattr(t, basis)) == mine)]
        need = needed(basis, policy)
        if len(group) >= need:
            label = basis.replace("_", " ")
            return Recurrence(basis, mine, f"{len(group)} incidents on {label} "
                              f"{getattr(ticket, basis)!r} {window} (threshold {need})",
                              _ids(group))
    return None


def _ids(group: Sequence[TicketFacts]) -> tuple[UUID, ...]:
    return tuple(t.ticket_id for t in sorted(group, key=lambda t: t.created_at))


def _similar(ticket: TicketFacts, others: Sequence[TicketFacts],
             policy: ProblemPolicy) -> Recurrence | None:
    if len(others) + 1 < policy.min_incidents:
        return None
    titles = [ticket.title, *(t.title for t in others)]
    try:
        matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(titles)
    except ValueError:  # nothing but stop words
        return None
    scores = cosine_similarity(matrix[0], matrix[1:]).ravel()
    group = [ticket, *(t for t, s in zip(others, scores, strict=True)
                       if s >= policy.text_similarity)]
    if len(group) < policy.min_incidents:
        return None
    first = min(group, key=lambda t: t.created_at)
    return Recurrence("text", f"{first.ticket_id}", f"{len(group)} incidents with titles like "
                      f"{ticket.title!r} within {policy.window_days} days (cosine >= "
                      f"{policy.text_similarity:g})", _ids(group))
