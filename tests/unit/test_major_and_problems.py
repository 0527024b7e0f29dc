"""Major incident detection and lifecycle, and problem candidates, without I/O."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tierline_sla.incidents import major
from tierline_sla.incidents.major import (
    MajorIncidentError,
    MajorIncidentPolicy,
    TicketFacts,
    detect,
)
from tierline_sla.incidents.problems import ProblemPolicy, find_recurrence

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
POLICY = MajorIncidentPolicy()


def facts(minutes: float = 0, **extra: Any) -> TicketFacts:
    fields: dict[str, Any] = dict(ticket_id=uuid.uuid4(), ticket_type="incident",
                                  priority="P3", created_at=T0 + timedelta(minutes=minutes),
                                  title="Payroll export fails", category="software")
    fields.update(extra)
    return TicketFacts(**fields)


def test_a_burst_of_20_on_one_service_has_one_key() -> None:
    seen: list[TicketFacts] = []
    detections = []
    for n in range(20):
        ticket = facts(n * 0.5, service="Payroll")
        detections.append(detect(ticket, seen, POLICY))
        seen.append(ticket)
    assert detections[:4] == [None] * 4
    assert {d.key for d in detections[4:] if d} == {"service:payroll"}
    assert detections[4] is not None and len(detections[4].ticket_ids) == 5
    assert "5 incidents on service 'Payroll' within 15 minutes" in detections[4].reason


def test_the_window_the_outage_and_the_type_bound_a_burst() -> None:
    old = [facts(-30 - n, service="Payroll") for n in range(4)]
    assert detect(facts(service="Payroll"), old, POLICY) is None  # outside 15 minutes
    others = [facts(-n, service="Mail") for n in range(4)]
    assert detect(facts(service="Payroll"), others, POLICY) is None
    requests = [facts(-n, service="Payroll", ticket_type="service_request") for n in range(4)]
    assert detect(facts(service="Payroll"), requests, POLICY) is None
    assert detect(facts(service="Payroll", ticket_type="service_request"),
                  [facts(-n, service="Payroll") for n in range(4)], POLICY) is None
    by_ci = [facts(-n, service="Other name", configuration_item="DB-01") for n in range(4)]
    found = detect(facts(configuration_item="db-01"), by_ci, POLICY)
    assert found is not None and found.key == "ci:db-01"


def _logged_in_order(burst: list[TicketFacts], order: tuple[int, ...]) -> set[int] | None:
    """What sla's handler makes of ``burst`` logged in ``order``: each ticket joins the open
    major incident, or is checked against the tickets logged before it (any creation time).
    The indices the major incident holds in the end, None if none was declared."""
    seen: list[TicketFacts] = []
    linked: set[int] | None = None
    for index in order:
        ticket = burst[index]
        if linked is not None:
            linked.add(index)
        elif (found := detect(ticket, seen, POLICY)) is not None:
            linked = {n for n, t in enumerate(burst) if t.ticket_id in found.ticket_ids}
        seen.append(ticket)
    return linked


def test_a_burst_logged_in_any_order_is_found_with_all_its_tickets() -> None:
    """The consumer hands sla a batch partition by partition, so a burst's tickets come out
    of creation order: (0, 1, 2, 5, 4, 3) used to declare nothing (each of 5, 4, 3 saw only
    the tickets created before it) and (0, 1, 2, 5, 3, 4) one without ticket 5."""
    burst = [facts(n * 0.01, service="Payroll") for n in range(6)]
    for order in itertools.permutations(range(6)):
        assert _logged_in_order(burst, order) == set(range(6)), order


def test_a_burst_needs_its_tickets_within_one_window() -> None:
    # five within 15 minutes of the middle one, but no 15-minute window holds more than 3
    spread = [facts(m, service="Payroll") for m in (-14, -13, 13, 14)]
    assert detect(facts(0, service="Payroll"), spread, POLICY) is None
    # the window may end after the ticket: the later tickets count, and are named
    later = [facts(m, service="Payroll") for m in (-20, 1, 2, 14, 16)]
    found = detect(facts(0, service="Payroll"), later, POLICY)
    assert found is None  # 0, 1, 2 and 14 in [0, 15]: four
    later.append(facts(15, service="Payroll"))
    found = detect(facts(0, service="Payroll"), later, POLICY)
    assert found is not None and "5 incidents on service 'Payroll'" in found.reason
    assert len(found.ticket_ids) == 5  # not -20 nor 16: beyond 15 minutes of this one


@pytest.mark.parametrize(("extra", "rule"), [
    ({"affected_scope": "organization", "priority": "P2"}, "wide_impact"),
    ({"business_critical": True, "priority": "P1", "service": "ERP"}, "critical_service_down"),
    ({"workaround_available": False, "priority": "P1"}, "no_workaround"),
    ({"compliance_exposure": True}, "compliance"),
])
def test_single_ticket_rules(extra: dict[str, Any], rule: str) -> None:
    found = detect(facts(**extra), [], POLICY)
    assert found is not None and found.rule == rule and len(found.ticket_ids) == 1


def test_not_major_without_a_rule() -> None:
    assert detect(facts(affected_scope="organization", priority="P3"), [], POLICY) is None
    assert detect(facts(business_critical=True, priority="P2"), [], POLICY) is None
    assert detect(facts(workaround_available=True, priority="P1"), [], POLICY) is None


def test_breach_imminent_only_for_p1_resolution_past_the_threshold() -> None:
    assert major.breach_imminent("P1", "resolution", 180 * 60, 240 * 60, POLICY)
    assert major.breach_imminent("P1", "resolution", 100 * 60, 240 * 60, POLICY) is None
    assert major.breach_imminent("P2", "resolution", 200 * 60, 240 * 60, POLICY) is None
    assert major.breach_imminent("P1", "first_response", 15 * 60, 15 * 60, POLICY) is None


def test_lifecycle_root_cause_after_restore_and_review_closes_only_when_done() -> None:
    mi = major.MajorIncident(id=uuid.uuid4(), title="Payroll down", status="declared",
                             declared_at=T0, last_update_at=T0)
    assert major.next_update_due(mi, POLICY) == T0 + timedelta(minutes=30)
    mi = major.post_update(mi, T0 + timedelta(minutes=20))
    assert major.next_update_due(mi, POLICY) == T0 + timedelta(minutes=50)
    with pytest.raises(MajorIncidentError, match="after service is restored"):
        major.record_root_cause(mi, "cert expired")
    with pytest.raises(MajorIncidentError, match="after service is restored"):
        major.add_action_item(mi, "Alert on expiry", "ops", date(2026, 12, 31))
    mi = major.restore(mi, T0 + timedelta(hours=1))
    assert major.next_update_due(mi, POLICY) is None  # no reminders after restoration
    mi = major.add_action_item(mi, "Alert on expiry", "ops", date(2026, 12, 31))
    mi = major.resolve(mi, T0 + timedelta(hours=2))
    with pytest.raises(MajorIncidentError, match="root cause"):
        major.close(mi, T0 + timedelta(days=1))
    mi = major.record_root_cause(mi, "certificate expired")
    with pytest.raises(MajorIncidentError, match=r"1\. Alert on expiry \(ops, due 2026-12-31\)"):
        major.close(mi, T0 + timedelta(days=1))
    mi = major.complete_action_item(mi, 1)
    closed = major.close(mi, T0 + timedelta(days=1))
    assert closed.status == "closed"
    with pytest.raises(MajorIncidentError):
        major.post_update(closed, T0 + timedelta(days=2))
    with pytest.raises(MajorIncidentError, match="no action item 7"):
        major.complete_action_item(mi, 7)


def test_recurrence_by_configuration_item_then_service() -> None:
    policy = ProblemPolicy()
    older = [facts(-60 * 24 * n, configuration_item="vpn-gw-01", title=f"t{n}")
             for n in (1, 2)]
    found = find_recurrence(facts(configuration_item="VPN-GW-01"), older, policy)
    assert found is not None and found.basis == "configuration_item"
    assert len(found.ticket_ids) == 3
    stale = [facts(-60 * 24 * 40, configuration_item="vpn-gw-01")] * 2
    assert find_recurrence(facts(configuration_item="vpn-gw-01"), stale, policy) is None


def test_recurrence_by_similar_titles_and_not_by_dissimilar_ones() -> None:
    policy = ProblemPolicy(by=["text"])
    similar = [facts(-100, title="VPN keeps dropping the connection"),
               facts(-50, title="VPN connection dropping again")]
    found = find_recurrence(facts(title="VPN connection keeps dropping"), similar, policy)
    assert found is not None and found.basis == "text" and len(found.ticket_ids) == 3
    different = [facts(-100, title="Printer on floor 3 is out of toner"),
                 facts(-50, title="Cannot open the payroll report")]
    assert find_recurrence(facts(title="VPN connection keeps dropping"), different,
                           policy) is None


def test_category_alone_needs_twice_as_many() -> None:
    policy = ProblemPolicy(by=["category"])
    five = [facts(-n, title=f"unrelated {n}") for n in range(1, 5)]
    assert find_recurrence(facts(), five, policy) is None  # 5 < 6
    found = find_recurrence(facts(), [*five, facts(-6)], policy)
    assert found is not None and found.basis == "category"


def test_reading_only_the_candidate_groups_finds_the_same_recurrence() -> None:
    """sla reads only the incidents of the groups large enough to settle on, told by counts
    of the stored values (``candidates``), and every incident in the window only when it
    gets to the titles: over random desks, values spelt with other cases and spaces, bases
    in any order and incidents either side of the new one, that finds the recurrence found
    from every incident in the window."""
    import random

    from tierline_sla.incidents.problems import before_text, candidates, same_values

    rng = random.Random(7)
    spellings = {"ci": ["VPN-GW-01", " vpn-gw-01", "VPN-GW-01 ", "db-7", None, "  "],
                 "svc": ["Payroll", "payroll ", "Mail", None],
                 "cat": ["network", "software", "hardware"]}
    outcomes = {"none": 0, "from the groups": 0, "from every incident": 0}
    for _ in range(400):
        by = rng.sample(["configuration_item", "service", "category", "text"], rng.randint(1, 4))
        policy = ProblemPolicy(min_incidents=rng.randint(2, 4), by=by)
        recent = [facts(rng.uniform(-60 * 24 * 40, 60 * 24 * 40), configuration_item=rng.choice(
            spellings["ci"]), service=rng.choice(spellings["svc"]),
            category=rng.choice(spellings["cat"]), title=rng.choice(
                ["VPN drops", "Mail bounces", "Laptop will not boot"]))
            for _ in range(rng.randint(0, 14))]
        ticket = facts(configuration_item=rng.choice(spellings["ci"]),
                       service=rng.choice(spellings["svc"]),
                       category=rng.choice(spellings["cat"]))
        span = timedelta(days=policy.window_days)
        window = [t for t in [ticket, *recent] if abs(t.created_at - ticket.created_at) <= span]
        counts: dict[str, dict[str | None, int]] = {}
        for basis in ("configuration_item", "service", "category"):
            by_value = counts[basis] = {}
            for t in window:
                if t.ticket_id != ticket.ticket_id:
                    value = getattr(t, basis)
                    by_value[value] = by_value.get(value, 0) + 1
        expected = find_recurrence(ticket, window, policy)
        bases = candidates(ticket, counts, policy)  # type: ignore[arg-type]
        assert bases is not None
        found = None
        if bases:
            wanted = {b: set(same_values(ticket, b, counts[b])) for b in bases}
            groups = [t for t in window if any(getattr(t, b) in wanted[b] for b in bases)]
            found = find_recurrence(ticket, groups, policy.model_copy(
                update={"by": before_text(policy)}))
            if found is not None:
                outcomes["from the groups"] += 1
        if found is None and "text" in policy.by:
            found = find_recurrence(ticket, window, policy)
            outcomes["from every incident"] += found is not None
        outcomes["none"] += found is None
        assert found == expected
    assert all(outcomes.values()), outcomes  # every outcome was exercised


def test_a_recurrence_is_found_whichever_incident_is_logged_last() -> None:
    """Three incidents on one configuration item within the window make a problem in any
    order they are logged, the one logged last naming all three; two within the window
    and one beyond it do not."""
    import itertools

    policy = ProblemPolicy(by=["configuration_item"])
    three = [facts(-60 * 24 * d, configuration_item="vpn-gw-01", title=f"t{d}")
             for d in (0, 10, 20)]
    for order in itertools.permutations(three):
        assert find_recurrence(order[0], [], policy) is None
        assert find_recurrence(order[1], [order[0]], policy) is None
        found = find_recurrence(order[2], list(order[:2]), policy)
        assert found is not None and set(found.ticket_ids) == {t.ticket_id for t in three}
        assert found.reason.startswith("3 incidents on configuration item")
    apart = [facts(-60 * 24 * d, configuration_item="vpn-gw-01") for d in (0, 20, 40)]
    for order in itertools.permutations(apart):
        assert find_recurrence(order[2], list(order[:2]), policy) is None
