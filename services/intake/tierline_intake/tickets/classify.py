"""Putting intake's inferences together: type, category, priority, each with its reasons."""

from __future__ import annotations

from dataclasses import dataclass

from tierline_intake.policies import PriorityPolicy
from tierline_intake.tickets.categorizer import Categorizer
from tierline_intake.tickets.priority import PriorityOverride, Reason, Signals, prioritize


@dataclass(frozen=True)
class Classification:
    ticket_type: str
    category: str
    subcategory: str | None
    category_confidence: float
    needs_triage: bool
    impact: str
    urgency: str
    priority: str
    reasons: list[Reason]

    def reason_dicts(self) -> list[dict[str, object]]:
        return [reason.as_dict() for reason in self.reasons]


def classify(*, title: str, description: str, categorizer: Categorizer,
             priority_policy: PriorityPolicy, signals: Signals,
             ticket_type: str | None = None, category: str | None = None,
             subcategory: str | None = None, impact: str | None = None,
             urgency: str | None = None,
             override: PriorityOverride | None = None) -> Classification:
    reasons: list[Reason] = []
    if ticket_type is not None:
        reasons.append(Reason("type", ticket_type, "given", "type given by the caller"))
        kind = ticket_type
    else:
        guess = categorizer.infer_type(title, description)
        reasons.append(Reason("type", guess.value, "inferred", guess.reason, guess.confidence))
        kind = guess.value

    taxonomy = categorizer.taxonomy
    if category is not None:
        reasons.append(Reason("category", category, "given", "category given by the caller"))
        confidence = 1.0
        if subcategory is None:
            sub_guess = categorizer.subcategory_within(category, title, description)
            subcategory = sub_guess.value if sub_guess else None
            if sub_guess:
                reasons.append(Reason("subcategory", sub_guess.value, "inferred",
                                      sub_guess.reason, sub_guess.confidence))
        else:
            reasons.append(Reason("subcategory", subcategory, "given",
                                  "subcategory given by the caller"))
        chosen = category
    else:
        cat_guess, sub_guess = categorizer.categorize(title, description)
        confidence = cat_guess.confidence
        chosen = cat_guess.value
        reasons.append(Reason("category", chosen, "inferred", cat_guess.reason, confidence))
        if sub_guess is not None:
            subcategory = sub_guess.value
            reasons.append(Reason("subcategory", sub_guess.value, "inferred", sub_guess.reason,
                                  sub_guess.confidence))
    triage = confidence < taxonomy.triage_below_confidence
    if triage:
        reasons.append(Reason("triage", "true", "inferred",
                              f"category confidence {confidence} is below "
                              f"{taxonomy.triage_below_confidence}: routed to triage"))

    impact_v, urgency_v, priority, priority_reasons = prioritize(
        priority_policy, impact=impact, urgency=urgency, signals=signals, override=override)
    reasons += priority_reasons
    return Classification(kind, chosen, subcategory, confidence, triage, impact_v, urgency_v,
                          priority, reasons)
