"""The categorizer as it was before issue 16 (main at 1fc44e0), kept as the reference
that the equivalence test and bench/categorizer.py compare the fast one with: three
``predict_proba`` calls through scikit-learn's validation, and one regex per taxonomy phrase.
``from_fitted`` shares a fast categorizer's fitted models, so both score the same models."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from tierline_intake.policies import Rule

# What the change left alone (the text the models read, the blend of model and rules) is
# shared with the fast categorizer rather than copied.
from tierline_intake.tickets.categorizer import Guess, _blend
from tierline_intake.tickets.categorizer import model_text as _text
from tierline_intake.tickets.rules import pattern_hits, phrase_hits


def rule_scores(rules: dict[str, Rule], title: str, description: str) -> tuple[
        dict[str, float], dict[str, list[str]]]:
    """Keyword hits in the title count double; a pattern hit counts two."""
    scores: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for name, rule in rules.items():
        in_title = phrase_hits(rule.keywords, title)
        in_desc = phrase_hits(rule.keywords, description)
        patterns = pattern_hits(rule.patterns, f"{title}\n{description}")
        scores[name] = 2 * len(in_title) + len(in_desc) + 2 * len(patterns)
        matched[name] = sorted(set(in_title + in_desc)) + [f"/{p}/" for p in patterns]
    return scores, matched


class LegacyCategorizer:
    @classmethod
    def from_fitted(cls, fast: Any) -> LegacyCategorizer:
        legacy = cls.__new__(cls)
        legacy.taxonomy = fast.taxonomy
        legacy._features = fast.features
        legacy._category = fast.category_model
        legacy._type = fast.type_model
        legacy._sub = fast.sub_model
        legacy._vector = lru_cache(maxsize=64)(legacy._transform)
        return legacy

    def _transform(self, text: str):  # type: ignore[no-untyped-def]
        return self._features.transform([text])

    def categorize(self, title: str, description: str) -> tuple[Guess, Guess | None]:
        """The category and, within it, the subcategory, each with a confidence."""
        text = _text(title, description)
        probs = self._category.predict_proba(self._vector(text))[0]
        labels = [str(label) for label in self._category.classes_]
        rules, matched = rule_scores(self.taxonomy.categories, title, description)
        blended = _blend(labels, probs, rules, self.taxonomy.rule_weight)
        best = max(blended, key=lambda label: blended[label])
        model_best = labels[int(np.argmax(probs))]
        reason = (f"classifier {model_best} ({max(probs):.2f})"
                  + (f"; keywords/patterns {matched[best]}" if matched.get(best) else
                     "; no taxonomy keyword or pattern matched"))
        category = Guess(best, round(blended[best], 3), reason,
                         {k: round(v, 3) for k, v in blended.items()})
        return category, self.subcategory_within(best, title, description)

    def subcategory_within(self, category: str, title: str, description: str) -> Guess | None:
        text = _text(title, description)
        subs = self.taxonomy.categories[category].subcategories
        if not subs:
            return None
        labels = [str(label) for label in self._sub.classes_]
        probs = self._sub.predict_proba(self._vector(text))[0]
        within = {label.split("/", 1)[1]: float(p) for label, p in zip(labels, probs, strict=True)
                  if label.startswith(f"{category}/")}
        total = sum(within.values()) or 1.0
        names = list(within)
        rules, matched = rule_scores(subs, title, description)
        blended = _blend(names, np.array([within[n] / total for n in names]), rules,
                         self.taxonomy.rule_weight)
        if not blended:
            return None
        best = max(blended, key=lambda name: blended[name])
        reason = f"keywords {matched[best]}" if matched.get(best) else "classifier"
        return Guess(best, round(blended[best], 3), reason)

    def infer_type(self, title: str, description: str) -> Guess:
        text = _text(title, description)
        probs = self._type.predict_proba(self._vector(text))[0]
        labels = [str(label) for label in self._type.classes_]
        rules, matched = rule_scores(self.taxonomy.type_rules, title, description)
        blended = _blend(labels, probs, rules, self.taxonomy.rule_weight)
        best = max(blended, key=lambda label: blended[label])
        reason = f"classifier {dict(zip(labels, np.round(probs, 2).tolist(), strict=True))}"
        if matched.get(best):
            reason += f"; words {matched[best]}"
        return Guess(best, round(blended[best], 3), reason)
