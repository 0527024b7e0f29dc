"""Customer contacts: repeat-contact matching and what an interaction event does. Pure.

A contact is a repeat when the same customer comes back about the same issue within the
window: one of their tickets that is not closed, active within the window, whose words are
close enough to what they say now (cosine of stemmed word counts, stop words dropped).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

REPEAT_WINDOW = timedelta(hours=72)
REPEAT_THRESHOLD = 0.3

STOP_WORDS = frozenset("""a about above after again all also am an and any are as at be because
been before being below between both but by can cannot could did do does doing down during each
few for from further had has have having he her here hers him his how i if in into is it its
just me more most my no nor not now of off on once only or other our out over own same she
should so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you
your yours every hi hello thanks thank please still again get got since today yesterday""".split())


def stem(word: str) -> str:
    for suffix in ("ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if suffix in ("ing", "ed") and len(word) > 3 and word[-1] == word[-2] \
                    and word[-1] not in "aeiouls":
                word = word[:-1]  # jamming, jammed: jam
            break
    return word


def terms(text: str) -> Counter[str]:
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'", ""))
    return Counter(stem(w) for w in words if w not in STOP_WORDS and len(w) > 1)


def similarity(a: str, b: str) -> float:
    ta, tb = terms(a), terms(b)
    dot = sum(count * tb[t] for t, count in ta.items())
    if dot == 0:
        return 0.0
    return dot / (math.sqrt(sum(v * v for v in ta.values()))
                  * math.sqrt(sum(v * v for v in tb.values())))


@dataclass(frozen=True)
class Candidate:
    """One of the customer's tickets."""

    ticket_id: UUID
    text: str
    status: str
    last_activity: datetime


@dataclass(frozen=True)
class RepeatMatch:
    ticket_id: UUID
    score: float
    reason: str


def match_repeat(text: str, at: datetime, candidates: list[Candidate],
                 window: timedelta = REPEAT_WINDOW,
                 threshold: float = REPEAT_THRESHOLD) -> RepeatMatch | None:
    """The customer's ticket this contact repeats, if any: the most similar open one active
    within the window, at or above the threshold."""
    best: RepeatMatch | None = None
    for candidate in candidates:
        if candidate.status == "closed" or at - candidate.last_activity > window:
            continue
        score = similarity(text, candidate.text)
        if score < threshold or (best is not None and score <= best.score):
            continue
        hours = (at - candidate.last_activity).total_seconds() / 3600
        best = RepeatMatch(candidate.ticket_id, round(score, 3),
                           f"same customer back within {hours:.1f} h (window "
                           f"{window.total_seconds() / 3600:g} h) about the same issue: "
                           f"similarity {score:.2f} >= {threshold:.2f}")
    return best


def transcript(events: list[tuple[str, str | None, str | None]]) -> str:
    """The customer-visible lines of a contact, oldest first: (kind, author, text)."""
    lines = []
    for kind, author, text in events:
        if kind == "message" and text:
            lines.append(f"{author}: {text}")
        elif kind == "ivr_menu" and text:
            lines.append(f"IVR: {text}")
    return "\n".join(lines)
