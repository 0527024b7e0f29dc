"""The categorizer: held-out accuracy floors, rules and classifier blended, triage."""

from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from sklearn.model_selection import train_test_split

from tests.reports import REPORT
from tierline_intake.policies import load_priority_policy, load_taxonomy
from tierline_intake.tickets.categorizer import (
    CORPUS,
    Categorizer,
    CorpusError,
    Example,
    load_corpus,
)
from tierline_intake.tickets.classify import classify
from tierline_intake.tickets.priority import Signals
from tierline_shared.settings import POLICY_DIR

TAXONOMY = load_taxonomy(POLICY_DIR)
POLICY = load_priority_policy(POLICY_DIR)


@cache
def corpus() -> list[Example]:
    return load_corpus(CORPUS, TAXONOMY)


@cache
def split() -> tuple[list[Example], list[Example]]:
    examples = corpus()
    train, test = train_test_split(examples, test_size=0.2, random_state=20261124,
                                   stratify=[f"{e.category}/{e.type}" for e in examples])
    return train, test


@cache
def held_out_model() -> Categorizer:
    return Categorizer(TAXONOMY, split()[0])


def test_the_corpus_is_large_varied_and_labelled_by_the_taxonomy() -> None:
    examples = corpus()
    assert len(examples) >= 400
    assert len({e.title for e in examples}) == len(examples)
    per_category = Counter(e.category for e in examples)
    assert set(per_category) == set(TAXONOMY.categories)
    assert min(per_category.values()) >= 80
    per_type = Counter(e.type for e in examples)
    assert min(per_type.values()) >= 0.3 * len(examples)
    for name, category in TAXONOMY.categories.items():
        subs = Counter(e.subcategory for e in examples if e.category == name)
        assert set(subs) == set(category.subcategories), name


def test_held_out_accuracy_meets_the_floors() -> None:
    train, test = split()
    model = held_out_model()
    assert not {e.title for e in test} & {e.title for e in train}
    category_hits = sum(model.categorize(e.title, e.description)[0].value == e.category
                        for e in test)
    type_hits = sum(model.infer_type(e.title, e.description).value == e.type for e in test)
    sub_hits = sum((model.subcategory_within(e.category, e.title, e.description) or
                    model.categorize(e.title, e.description)[0]).value == e.subcategory
                   for e in test)
    category_acc, type_acc = category_hits / len(test), type_hits / len(test)
    REPORT["categorizer held-out split"] = f"{len(train)} train / {len(test)} test"
    REPORT["category accuracy (held out)"] = f"{category_acc:.1%} (floor 85%)"
    REPORT["incident vs request accuracy (held out)"] = f"{type_acc:.1%} (floor 90%)"
    REPORT["subcategory accuracy given the category (held out)"] = f"{sub_hits / len(test):.1%}"
    assert category_acc >= 0.85
    assert type_acc >= 0.90


def test_confidence_is_a_probability_and_low_confidence_goes_to_triage() -> None:
    model = held_out_model()
    clear, _ = model.categorize("VPN keeps dropping", "AnyConnect disconnects every 5 minutes")
    assert clear.value == "network" and clear.confidence > TAXONOMY.triage_below_confidence
    assert abs(sum(clear.scores.values()) - 1) < 0.01  # scores are rounded to 3 places
    vague = classify(title="Help", description="Something is wrong, please call me",
                     categorizer=model, priority_policy=POLICY, signals=Signals())
    assert vague.needs_triage
    assert any(r.field == "triage" for r in vague.reasons)


def test_rules_pull_the_blend_towards_their_category() -> None:
    model = held_out_model()
    guess, _ = model.categorize("okta", "")
    assert guess.value == "access"
    assert "okta" in guess.reason


def test_a_corpus_label_outside_the_taxonomy_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.csv"
    bad.write_text("title,description,type,category,subcategory\n"
                   "a,b,incident,network,vpn\n"
                   "c,d,incident,plumbing,pipes\n")
    with pytest.raises(CorpusError, match=r"corpus\.csv:3: category 'plumbing'"):
        load_corpus(bad, TAXONOMY)
