"""Erasing one person's personal data (the right to erasure), the pure part: no I/O.

Intake knows who the person is (ids, emails, names) and rewrites its own rows with an
``Eraser``: the person's ids become one stable pseudonym (so per-customer counts still
add up), their emails and names go, their own words (replies, survey comments, chat
messages) become ``[erased]``, and other free text about them keeps its meaning with their
identifiers cut out. Every string it changes is remembered as *digest of the original ->
replacement*. Those pairs, per ticket, are what the other services receive
(``TicketRequesterErased.replacements``): they rewrite any stored string whose digest is
listed (``apply_replacements``) without the event ever carrying the personal data itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tierline_shared.logging import mask_personal_data

ERASED = "[erased]"
PSEUDONYM_PREFIX = "erased-"
# Keys whose values are the person's own words when they wrote the entry.
OWN_WORDS = ("text", "note", "comment", "about")
_SHORTEST_ID = 4  # shorter ids are too likely to occur in unrelated text


def digest(value: str) -> str:
    """The SHA-256 of ``value``, hex: how the event names a string without carrying it."""
    return hashlib.sha256(value.encode()).hexdigest()


def pseudonym(subject: str) -> str:
    """The stable pseudonym for a requester id (or, failing one, an email address)."""
    return PSEUDONYM_PREFIX + digest(f"tierline-erasure:{subject.strip()}")[:16]


def subject_digest(kind: str, value: str) -> str:
    """What an erasure record keeps to recognise the same request again, not the value."""
    value = value.strip().lower() if kind == "email" else value.strip()
    return digest(f"tierline-erasure:{kind}:{value}")


def _word(value: str) -> str:
    return rf"(?<![\w@.+-]){re.escape(value)}(?![\w@-])"


@dataclass(frozen=True)
class Identity:
    """Who is being erased: every id, email and name intake found for them."""

    ids: frozenset[str]
    emails: frozenset[str]
    names: frozenset[str]
    pseudonym: str

    def is_id(self, value: str) -> bool:
        return value in self.ids

    def is_contact(self, value: str) -> bool:
        """An email address or a name of the person, as a whole value."""
        folded = value.strip().casefold()
        return folded in {e.casefold() for e in self.emails} or \
            folded in {n.casefold() for n in self.names}


def scrub_text(text: str, identity: Identity) -> str:
    """``text`` with the person's emails and names replaced by ``[erased]``, their ids by
    the pseudonym, and any other email address or phone number masked."""
    out = text
    for email in sorted(identity.emails, key=len, reverse=True):
        out = re.sub(re.escape(email), ERASED, out, flags=re.IGNORECASE)
    full_names = sorted(identity.names, key=len, reverse=True)
    for name in full_names:
        out = re.sub(_word(name), ERASED, out, flags=re.IGNORECASE)
    # Parts of a name ("Ada" of "Ada Park") as written, capitalised: "will" is not "Will".
    parts = {p for name in full_names for p in name.split() if len(p) >= 3}
    for part in sorted(parts, key=len, reverse=True):
        out = re.sub(_word(part), ERASED, out)
    for requester_id in sorted(identity.ids, key=len, reverse=True):
        if len(requester_id) >= _SHORTEST_ID:
            out = re.sub(_word(requester_id), identity.pseudonym, out)
    return str(mask_personal_data(out))


def rewrite_json(value: Any, change: Callable[[str], str | None]) -> Any:
    """``value`` (JSON) with every string value passed through ``change``; keys stay."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: rewrite_json(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_json(v, change) for v in value]
    return value


def apply_replacements(value: Any, replacements: dict[str, str]) -> Any:
    """``value`` (a string or JSON) with each string whose digest is listed replaced."""
    if not replacements:
        return value
    return rewrite_json(value, lambda s: replacements.get(digest(s), s))


@dataclass
class Eraser:
    """Rewrites one person's values, remembering every change by the original's digest."""

    identity: Identity
    changes: dict[str, str] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    def _remember(self, original: str, new: str | None) -> str | None:
        if new != original:
            key = digest(original)
            self.changes[key] = new if new is not None else ERASED
            self.touched.add(key)
        return new

    def value(self, text: str) -> str | None:
        """A string value: an id becomes the pseudonym, an email or name goes (None),
        free text is scrubbed."""
        known = self.changes.get(digest(text))
        if known is not None:
            self.touched.add(digest(text))
            return None if known == ERASED and self.identity.is_contact(text) else known
        if self.identity.is_id(text):
            return self._remember(text, self.identity.pseudonym)
        if self.identity.is_contact(text):
            return self._remember(text, None)
        return self._remember(text, scrub_text(text, self.identity))

    def text(self, text: str) -> str:
        """Free text that must stay text (a NOT NULL column)."""
        new = self.value(text)
        return ERASED if new is None else new

    def own_words(self, text: str) -> str:
        """The person's own words: all of it goes."""
        return self._remember(text, ERASED) or ERASED

    def json(self, value: Any) -> Any:
        return rewrite_json(value, self.value)

    def entry(self, detail: Any, by_person: bool) -> Any:
        """A logged entry (history detail, an event body): when the person wrote it, their
        words go; everything else is rewritten like any value."""
        if by_person and isinstance(detail, dict):
            detail = {k: self.own_words(v) if k in OWN_WORDS and isinstance(v, str) else v
                      for k, v in detail.items()}
        return self.json(detail)

    def requester(self, requester: dict[str, Any]) -> dict[str, Any]:
        """A ticket's requester: the pseudonym for the id, no name, no email, no phone; the
        support facts (VIP, plan) stay."""
        kept = {k: v for k, v in requester.items() if k not in ("name", "email", "phone")}
        if isinstance(kept.get("id"), str):
            kept["id"] = self.value(kept["id"])
        return kept

    def take_touched(self) -> dict[str, str]:
        """The changes used since the last call: one ticket's replacements."""
        out = {key: self.changes[key] for key in self.touched}
        self.touched = set()
        return out


def identity_of(ids: Iterable[str | None], emails: Iterable[str | None],
                names: Iterable[str | None], subject: str) -> Identity:
    return Identity(ids=frozenset(i for i in ids if i),
                    emails=frozenset(e for e in emails if e),
                    names=frozenset(n.strip() for n in names if n and n.strip()),
                    pseudonym=pseudonym(subject))
