"""Problem candidates: incidents that recur become a problem linking them. Pure.

On each new incident, the incidents created within ``window_days`` either side of it are
grouped with it by the bases in ``by``, in order: the same configuration item, the same
service, the same category (a weak signal, so it needs twice ``min_incidents``), or a
similar title (TF-IDF cosine similarity at or above ``text_similarity``). The first group of
which one window of ``window_days`` holding the incident holds enough is the recurrence,
whichever of them was logged last (incidents are not always logged in the order they were
created); its key names it so one open problem collects the group.
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

from tierline_sla.incidents.major import TicketFacts, densest

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


def candidates(ticket: TicketFacts, counts: Mapping[Basis, Mapping[str | None, int]],
               policy: ProblemPolicy) -> list[Basis] | None:
    """What :func:`find_recurrence` may settle on before it gets to the titles (``"text"``),
    from how many other incidents within the window either side carry each stored value of
    each attribute basis (``counts``): the attribute bases whose group is large enough
    (only their incidents need reading for them), in order; None for a ticket no problem
    starts from."""
    if ticket.ticket_type != "incident":
        return None
    out: list[Basis] = []
    for basis in before_text(policy):
        by_value = counts.get(basis, {})
        if 1 + sum(by_value[v] for v in same_values(ticket, basis, by_value)) >= needed(
                basis, policy):
            out.append(basis)
    return out


def before_text(policy: ProblemPolicy) -> list[Basis]:
    """The attribute bases tried before the titles."""
    return list(policy.by[:policy.by.index("text")] if "text" in policy.by else policy.by)


def find_recurrence(ticket: TicketFacts, recent: Sequence[TicketFacts],
                    policy: ProblemPolicy) -> Recurrence | None:
    if ticket.ticket_type != "incident":
        return None
    span = timedelta(days=policy.window_days)
    others = [t for t in recent if t.ticket_type == "incident" and t.ticket_id != ticket.ticket_id
              and abs(t.created_at - ticket.created_at) <= span]
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
        most = _most(ticket, group, span)
        if most >= need:
            label = basis.replace("_", " ")
            return Recurrence(basis, mine, f"{most} incidents on {label} "
                              f"{getattr(ticket, basis)!r} {window} (threshold {need})",
                              _ids(group))
    return None


def _most(ticket: TicketFacts, group: Sequence[TicketFacts], span: timedelta) -> int:
    """The most of ``group`` one window of ``span`` holding ``ticket`` holds."""
    return densest(ticket.created_at, sorted(t.created_at for t in group), span)


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
    most = _most(ticket, group, timedelta(days=policy.window_days))
    if most < policy.min_incidents:
        return None
    first = min(group, key=lambda t: t.created_at)
    return Recurrence("text", f"{first.ticket_id}", f"{most} incidents with titles like "
                      f"{ticket.title!r} within {policy.window_days} days (cosine >= "
                      f"{policy.text_similarity:g})", _ids(group))
