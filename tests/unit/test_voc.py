"""Voice of the customer: spikes by a Poisson test against the trailing baseline."""

from __future__ import annotations

from datetime import date, timedelta

from scipy.stats import poisson

from tierline_metrics.kpi.voc import Contact, detect, is_how_to, tail

DAY = date(2026, 11, 20)


def history(per_day: int, key: str = "network", sub: str | None = "vpn", days: int = 14,
            **extra: object) -> list[Contact]:
    return [Contact(DAY - timedelta(days=d), key, sub, **extra)  # type: ignore[arg-type]
            for d in range(1, days + 1) for _ in range(per_day)]


def today(n: int, key: str = "network", sub: str | None = "vpn", **extra: object) -> list[Contact]:
    return [Contact(DAY, key, sub, **extra) for _ in range(n)]  # type: ignore[arg-type]


def test_the_tail_is_scipys_poisson_with_a_half_contact_prior() -> None:
    rate, p = tail([2] * 14, 12)
    assert rate == (28 + 0.5) / 14
    assert p == poisson.sf(11, rate)
    assert tail([0] * 14, 0)[1] == 1.0


def test_the_same_count_spikes_a_quiet_key_but_not_a_busy_one() -> None:
    quiet = detect(history(2) + today(12), DAY)
    assert [(s.kind, s.dimension, s.key, s.observed) for s in quiet] == [
        ("contact_spike", "category", "network", 12),
        ("contact_spike", "subcategory", "network/vpn", 12)]
    assert quiet[0].p_value < 1e-4 and quiet[0].expected == round(28.5 / 14, 4)
    assert detect(history(10) + today(12), DAY) == []


def test_ordinary_variation_and_small_counts_are_not_spikes() -> None:
    assert detect(history(2) + today(5), DAY) == []  # P(X >= 5 | 2.04) ~ 0.05
    assert detect(history(0) + today(4), DAY) == []  # below min_count, however rare


def test_products_and_new_issue_types() -> None:
    signals = detect(history(1, product="mail") + today(9, key="software", sub="outlook",
                                                        product="mail"), DAY)
    assert {(s.dimension, s.key) for s in signals} == {
        ("category", "software"), ("subcategory", "software/outlook"), ("product", "mail")}


def test_how_do_i_growth() -> None:
    assert is_how_to("How do I reset my password?") and is_how_to("how to add a printer")
    assert not is_how_to("Printer down since the update")
    contacts = (history(3, key="access", sub=None, title="Password expired")
                + history(1, key="access", sub=None, title="How do I reset MFA")
                + today(3, key="access", sub=None, title="Password expired")
                + today(8, key="access", sub=None, title="how can I reset MFA"))
    # All access contacts, 4 a day then 11, are within reach of chance (p ~ 0.0035); the
    # "how do I" ones, 1 a day then 8, are not (p ~ 1e-5).
    assert [(s.kind, s.key, s.observed) for s in detect(contacts, DAY)] == [
        ("how_to_growth", "access", 8)]


def test_escalation_clusters_on_one_issue_type() -> None:
    contacts = history(1, escalated=True) + today(6, escalated=True) + history(5) + today(5)
    signals = detect(contacts, DAY)
    assert [(s.kind, s.dimension, s.key, s.observed) for s in signals] == [
        ("escalation_cluster", "subcategory", "network/vpn", 6)]
