"""Pure intake logic: incident or request, category, priority; each with its reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tierline_intake.policies import PriorityMatrix, Taxonomy

UNCATEGORIZED = "uncategorized"


@dataclass(frozen=True)
class Inference:
    value: str
    source: str  # "given", "inferred" or "default"
    reason: str
    confidence: float = 1.0
    extra: dict[str, object] = field(default_factory=dict)


def _hits(words: list[str], text: str) -> list[str]:
    return [w for w in words if re.search(rf"(?<![\w-]){re.escape(w.lower())}(?![\w-])", text)]


def infer_type(title: str, description: str, taxonomy: Taxonomy,
               given: str | None = None) -> Inference:
    if given is not None:
        return Inference(given, "given", "type given by the caller")
    text = f"{title} {title} {description}".lower()
    scores = {kind: _hits(words, text) for kind, words in taxonomy.type_rules.items()}
    incident, request = scores.get("incident", []), scores.get("service_request", [])
    if len(request) > len(incident):
        return Inference("service_request", "inferred",
                         f"request words {request} outnumber incident words {incident}")
    if incident:
        return Inference("incident", "inferred", f"incident words {incident}")
    return Inference("incident", "default", "no type words found; treated as an incident")


def categorize(title: str, description: str, taxonomy: Taxonomy,
               given: str | None = None) -> tuple[Inference, str | None]:
    """Category and subcategory. Confidence is the top category's share of keyword hits."""
    title_l, desc_l = title.lower(), description.lower()
    if given is not None:
        sub = _best_sub(given, title_l, desc_l, taxonomy)
        return Inference(given, "given", "category given by the caller"), sub
    scores: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    for name, cat in taxonomy.categories.items():
        in_title, in_desc = _hits(cat.keywords, title_l), _hits(cat.keywords, desc_l)
        scores[name] = 2 * len(in_title) + len(in_desc)
        matched[name] = sorted(set(in_title + in_desc))
    total = sum(scores.values())
    if total == 0:
        return Inference(UNCATEGORIZED, "default", "no taxonomy keyword matched",
                         confidence=0.0), None
    best = max(scores, key=lambda name: (scores[name], name))
    confidence = round(scores[best] / total, 3)
    return Inference(best, "inferred", f"keywords {matched[best]}", confidence=confidence,
                     extra={"scores": scores}), _best_sub(best, title_l, desc_l, taxonomy)


def _best_sub(category: str, title: str, description: str, taxonomy: Taxonomy) -> str | None:
    cat = taxonomy.categories.get(category)
    if cat is None:
        return None
    scored = {name: 2 * len(_hits(words, title)) + len(_hits(words, description))
              for name, words in cat.subcategories.items()}
    scored = {name: score for name, score in scored.items() if score}
    return max(scored, key=lambda name: (scored[name], name)) if scored else None


def prioritize(matrix: PriorityMatrix, impact: str | None,
               urgency: str | None) -> tuple[Inference, Inference, Inference]:
    imp = (Inference(impact, "given", "impact given by the caller") if impact
           else Inference(matrix.default_impact, "default", "impact not given; policy default"))
    urg = (Inference(urgency, "given", "urgency given by the caller") if urgency
           else Inference(matrix.default_urgency, "default", "urgency not given; policy default"))
    priority = matrix.matrix[imp.value][urg.value]
    return imp, urg, Inference(priority, "inferred",
                               f"matrix[impact={imp.value}][urgency={urg.value}]")


@dataclass(frozen=True)
class Classification:
    ticket_type: Inference
    category: Inference
    subcategory: str | None
    impact: Inference
    urgency: Inference
    priority: Inference
    needs_triage: bool

    def explanation(self) -> dict[str, object]:
        def part(inf: Inference) -> dict[str, object]:
            return {"value": inf.value, "source": inf.source, "reason": inf.reason,
                    "confidence": inf.confidence}

        return {"type": part(self.ticket_type), "category": part(self.category),
                "impact": part(self.impact), "urgency": part(self.urgency),
                "priority": part(self.priority), "needs_triage": self.needs_triage}


def classify(*, title: str, description: str, taxonomy: Taxonomy, matrix: PriorityMatrix,
             ticket_type: str | None = None, category: str | None = None,
             impact: str | None = None, urgency: str | None = None) -> Classification:
    kind = infer_type(title, description, taxonomy, ticket_type)
    cat, sub = categorize(title, description, taxonomy, category)
    imp, urg, prio = prioritize(matrix, impact, urgency)
    triage = cat.confidence < taxonomy.triage_below_confidence
    return Classification(kind, cat, sub, imp, urg, prio, triage)
