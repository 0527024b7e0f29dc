"""Categorizing tickets: the taxonomy's keyword and pattern rules blended with a statistical
text classifier (scikit-learn) trained on the corpus the project ships. No I/O here: the
caller hands in the taxonomy and the examples.

scikit-learn fits the models; predictions go through ``LinearScorer`` (the three
classifiers in one matrix product over the shared TF-IDF vector) and the keywords through
one ``PhraseIndex``, which give the same answers at a fraction of the cost per ticket."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from tierline_intake.policies import TICKET_TYPES, Rule, Taxonomy
from tierline_intake.tickets.rules import PhraseIndex, pattern_hits
from tierline_intake.tickets.scoring import LinearScorer

CORPUS = Path(__file__).resolve().parents[1] / "data" / "tickets_corpus.csv"
UNCATEGORIZED = "uncategorized"


class CorpusError(ValueError):
    pass


@dataclass(frozen=True)
class Example:
    title: str
    description: str
    type: str
    category: str
    subcategory: str


@dataclass(frozen=True)
class Guess:
    value: str
    confidence: float
    reason: str
    scores: dict[str, float] = field(default_factory=dict)


def load_corpus(path: Path, taxonomy: Taxonomy) -> list[Example]:
    """Read the corpus; a label the taxonomy does not know is an error naming the line."""
    examples = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"title", "description", "type", "category", "subcategory"} - set(
            reader.fieldnames or ())
        if missing:
            raise CorpusError(f"{path}:1: missing columns {sorted(missing)}")
        for row in reader:
            line = reader.line_num
            category = taxonomy.categories.get(row["category"])
            if category is None:
                raise CorpusError(f"{path}:{line}: category {row['category']!r} is not in the "
                                  f"taxonomy ({', '.join(taxonomy.categories)})")
            if row["subcategory"] not in category.subcategories:
                raise CorpusError(f"{path}:{line}: subcategory {row['subcategory']!r} is not "
                                  f"in the taxonomy's {row['category']}")
            if row["type"] not in TICKET_TYPES:
                raise CorpusError(f"{path}:{line}: type {row['type']!r} is not one of "
                                  f"{TICKET_TYPES}")
            examples.append(Example(row["title"], row["description"], row["type"],
                                    row["category"], row["subcategory"]))
    if not examples:
        raise CorpusError(f"{path}: no examples")
    return examples


def model_text(title: str, description: str) -> str:
    return f"{title}. {title}. {description}"


def _features() -> FeatureUnion:
    return FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1,
                                  strip_accents="unicode")),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                  min_df=2, strip_accents="unicode")),
    ])


def _classifier(seed: int = 7) -> LogisticRegression:
    return LogisticRegression(C=10.0, max_iter=5000, random_state=seed)


class RuleIndex:
    """The taxonomy's keyword rules, looked up: every keyword of every rule in one
    ``PhraseIndex``, and for each of the taxonomy's rule sets which rules name each
    lower-cased keyword, so a ticket's hits are found from the few phrases it contains
    rather than by testing every keyword of every rule."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        rule_sets: list[dict[str, Rule]] = [taxonomy.categories, taxonomy.type_rules]
        rule_sets += [c.subcategories for c in taxonomy.categories.values()]
        self._taxonomy = taxonomy  # holds the rule sets, so their ids stay theirs
        self._owners: dict[int, tuple[dict[str, Rule], dict[str, list[tuple[str, str]]]]] = {}
        for rules in rule_sets:
            owners: dict[str, list[tuple[str, str]]] = {}
            for name, rule in rules.items():
                for keyword in rule.keywords:
                    owners.setdefault(keyword.lower(), []).append((name, keyword))
            self._owners[id(rules)] = (rules, owners)
        self.found = lru_cache(maxsize=128)(
            PhraseIndex(k for rules in rule_sets for r in rules.values()
                        for k in r.keywords).found)

    def _keyword_owners(self, rules: dict[str, Rule]) -> dict[str, list[tuple[str, str]]]:
        known = self._owners.get(id(rules))
        if known is not None and known[0] is rules:
            return known[1]
        owners: dict[str, list[tuple[str, str]]] = {}  # a rule set not the taxonomy's own
        for name, rule in rules.items():
            for keyword in rule.keywords:
                owners.setdefault(keyword.lower(), []).append((name, keyword))
        return owners

    def scores(self, rules: dict[str, Rule], title: str, description: str) -> tuple[
            dict[str, float], dict[str, list[str]]]:
        """Keyword hits in the title count double; a pattern hit counts two."""
        owners = self._keyword_owners(rules)
        in_title, in_description = self.found(title), self.found(description)
        title_hits: dict[str, list[str]] = {}
        desc_hits: dict[str, list[str]] = {}
        for found, hits in ((in_title, title_hits), (in_description, desc_hits)):
            for phrase in found:
                for name, keyword in owners.get(phrase, ()):
                    hits.setdefault(name, []).append(keyword)
        text = f"{title}\n{description}"
        scores: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        for name, rule in rules.items():
            in_t, in_d = title_hits.get(name, []), desc_hits.get(name, [])
            patterns = pattern_hits(rule.patterns, text) if rule.patterns else []
            scores[name] = 2 * len(in_t) + len(in_d) + 2 * len(patterns)
            matched[name] = sorted(set(in_t + in_d)) + [f"/{p}/" for p in patterns]
        return scores, matched


def _blend(labels: list[str], model_probs: np.ndarray, rules: dict[str, float],
           weight: float) -> dict[str, float]:
    """Mix the classifier's probabilities with the rules' share of hits. When no rule
    matched, the rules' part is uniform: no evidence, so the confidence drops."""
    total = sum(rules.get(label, 0.0) for label in labels)
    blended = {}
    for label, prob in zip(labels, model_probs, strict=True):
        share = rules.get(label, 0.0) / total if total else 1 / len(labels)
        blended[str(label)] = (1 - weight) * float(prob) + weight * share
    return blended


class Categorizer:
    def __init__(self, taxonomy: Taxonomy, examples: list[Example]) -> None:
        self.taxonomy = taxonomy
        texts = [model_text(e.title, e.description) for e in examples]
        # TF-IDF is fitted on the texts alone, so the three classifiers share one: a ticket's
        # text is turned into features once (the char n-grams are most of a prediction's
        # cost), not once per classifier.
        self.features = _features().fit(texts)
        x = self.features.transform(texts)
        self.category_model = _classifier().fit(x, [e.category for e in examples])
        self.type_model = _classifier().fit(x, [e.type for e in examples])
        self.sub_model = _classifier().fit(
            x, [f"{e.category}/{e.subcategory}" for e in examples])
        self._scorer = LinearScorer(self.features, [self.category_model, self.type_model,
                                                    self.sub_model])
        self._labels = tuple([str(label) for label in model.classes_] for model in (
            self.category_model, self.type_model, self.sub_model))
        self._rule_index = RuleIndex(taxonomy)
        # classify() asks for the type, the category and the subcategory of the same ticket
        self._probabilities = lru_cache(maxsize=64)(self._score)

    def _score(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        category, kind, sub = self._scorer.probabilities(text)
        for probs in (category, kind, sub):
            probs.setflags(write=False)  # shared through the cache
        return category, kind, sub

    def probabilities(self, title: str, description: str) -> dict[str, dict[str, float]]:
        """Each classifier's probabilities for a ticket, by label."""
        scored = self._probabilities(model_text(title, description))
        return {name: dict(zip(labels, map(float, probs), strict=True))
                for name, labels, probs in zip(("category", "type", "subcategory"),
                                               self._labels, scored, strict=True)}

    def _rules(self, rules: dict[str, Rule], title: str,
               description: str) -> tuple[dict[str, float], dict[str, list[str]]]:
        return self._rule_index.scores(rules, title, description)

    def categorize(self, title: str, description: str) -> tuple[Guess, Guess | None]:
        """The category and, within it, the subcategory, each with a confidence."""
        probs = self._probabilities(model_text(title, description))[0]
        labels = self._labels[0]
        rules, matched = self._rules(self.taxonomy.categories, title, description)
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
        subs = self.taxonomy.categories[category].subcategories
        if not subs:
            return None
        labels = self._labels[2]
        probs = self._probabilities(model_text(title, description))[2]
        within = {label.split("/", 1)[1]: float(p) for label, p in zip(labels, probs, strict=True)
                  if label.startswith(f"{category}/")}
        total = sum(within.values()) or 1.0
        names = list(within)
        rules, matched = self._rules(subs, title, description)
        blended = _blend(names, np.array([within[n] / total for n in names]), rules,
                         self.taxonomy.rule_weight)
        if not blended:
            return None
        best = max(blended, key=lambda name: blended[name])
        reason = f"keywords {matched[best]}" if matched.get(best) else "classifier"
        return Guess(best, round(blended[best], 3), reason)

    def infer_type(self, title: str, description: str) -> Guess:
        probs = self._probabilities(model_text(title, description))[1]
        labels = self._labels[1]
        rules, matched = self._rules(self.taxonomy.type_rules, title, description)
        blended = _blend(labels, probs, rules, self.taxonomy.rule_weight)
        best = max(blended, key=lambda label: blended[label])
        reason = f"classifier {dict(zip(labels, np.round(probs, 2).tolist(), strict=True))}"
        if matched.get(best):
            reason += f"; words {matched[best]}"
        return Guess(best, round(blended[best], 3), reason)
