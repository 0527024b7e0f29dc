"""Keyword and pattern matching shared by the categorizer and the priority rules."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=4096)
def _phrase(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])")


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def phrase_hits(phrases: list[str], text: str) -> list[str]:
    """The phrases that occur in ``text`` as whole words, case-insensitively."""
    lowered = text.lower()
    return [p for p in phrases if _phrase(p).search(lowered)]


def pattern_hits(patterns: list[str], text: str) -> list[str]:
    return [p for p in patterns if _pattern(p).search(text)]


def exclusive_hits(groups: dict[str, list[str]], text: str) -> dict[str, list[str]]:
    """Phrase hits per group, longest phrases first, each stretch of text used once: so
    "not urgent" counts as calm and its "urgent" does not count again as urgent."""
    remaining = text.lower()
    hits: dict[str, list[str]] = {group: [] for group in groups}
    ordered = sorted(((p, g) for g, phrases in groups.items() for p in phrases),
                     key=lambda item: -len(item[0]))
    for phrase, group in ordered:
        pattern = _phrase(phrase)
        if pattern.search(remaining):
            hits[group].append(phrase)
            remaining = pattern.sub(lambda m: " " * len(m.group(0)), remaining)
    return hits
