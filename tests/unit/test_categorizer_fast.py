"""The fast categorizer gives today's answers: scikit-learn's probabilities within 1e-9 and
the same guesses and reasons as the pipeline before issue 16, on every ticket of the
corpus; the phrase index finds what one regex per phrase finds."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from tests.legacy_categorizer import LegacyCategorizer
from tierline_intake.policies import load_taxonomy
from tierline_intake.tickets.categorizer import (
    CORPUS,
    Categorizer,
    Example,
    load_corpus,
    model_text,
)
from tierline_intake.tickets.rules import PhraseIndex, phrase_hits
from tierline_shared.settings import POLICY_DIR

TAXONOMY = load_taxonomy(POLICY_DIR)


@cache
def corpus() -> list[Example]:
    return load_corpus(CORPUS, TAXONOMY)


@cache
def model() -> Categorizer:
    return Categorizer(TAXONOMY, corpus())  # as intake fits it: on the whole corpus


def _tickets() -> list[tuple[str, str]]:
    tickets = [(e.title, e.description) for e in corpus()]
    tickets += [("okta", ""), ("", ""), ("Ünïcödé café naïve", "résumé — über\tstraße"),
                ("x", "a b"), ("VPN", "VPN VPN vpn-gw-01 wi-fi log in  log in")]
    return tickets


def test_probabilities_match_scikit_learn_within_1e_9_on_the_whole_corpus() -> None:
    fast = model()
    worst = 0.0
    for title, description in _tickets():
        x = fast.features.transform([model_text(title, description)])
        got = fast.probabilities(title, description)
        for name, clf in (("category", fast.category_model), ("type", fast.type_model),
                          ("subcategory", fast.sub_model)):
            expected = clf.predict_proba(x)[0]
            labels = [str(label) for label in clf.classes_]
            assert list(got[name]) == labels
            worst = max(worst, float(np.max(np.abs(
                np.array([got[name][label] for label in labels]) - expected))))
    assert worst <= 1e-9, worst


def test_guesses_and_reasons_are_the_legacy_pipelines_on_the_whole_corpus() -> None:
    fast = model()
    legacy = LegacyCategorizer.from_fitted(fast)
    for title, description in _tickets():
        assert fast.infer_type(title, description) == legacy.infer_type(title, description)
        assert fast.categorize(title, description) == legacy.categorize(title, description)
        for category in TAXONOMY.categories:
            assert (fast.subcategory_within(category, title, description)
                    == legacy.subcategory_within(category, title, description))


PHRASES = ["wi-fi", "log in", "docking station", "vpn", "read-only", "c++", "", "-x",
           "not responding", "sharepoint access", "a  b", "ÉCRAN", "pc"]


@pytest.mark.parametrize("text", [
    "Wi-Fi down; can't log in", "log  in", "re-log in", "login", "my wi-fi-6 router",
    "C++ build, c++", "docking station's port", "the docking-station", "PC-less pc",
    "not responding!", "sharepoint access-", "écran noir", "-x- x -x", "a  b a b", "",
])
def test_the_phrase_index_finds_what_the_regexes_find(text: str) -> None:
    found = PhraseIndex(PHRASES).found(text)
    assert [p for p in PHRASES if p.lower() in found] == phrase_hits(PHRASES, text)


def test_the_phrase_index_agrees_with_the_regexes_on_the_corpus_and_the_taxonomy() -> None:
    phrases = [k for c in TAXONOMY.categories.values()
               for rule in (c, *c.subcategories.values()) for k in rule.keywords]
    phrases += [k for rule in TAXONOMY.type_rules.values() for k in rule.keywords]
    index = PhraseIndex(phrases)
    for title, description in _tickets():
        for text in (title, description):
            found = index.found(text)
            assert [p for p in phrases if p.lower() in found] == phrase_hits(phrases, text)
