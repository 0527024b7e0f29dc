"""The console's pure parts: sessions and their CSRF tokens, and what the pages show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tierline_console import views
from tierline_console.inbox import sse_html
from tierline_console.sessions import Identity, SessionStore, csrf_ok

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ANA = Identity("0" * 12, "ana", frozenset({"agents:write"}), "ana")


def test_a_session_lives_while_used_and_ends_idle_or_on_sign_out() -> None:
    store = SessionStore(ttl_s=60)
    sid, session = store.open("tl_key", ANA, now=0)
    other, _ = store.open("tl_key", ANA, now=0)
    assert sid != other and len(sid) >= 40 and "tl_key" not in sid
    assert store.get(sid, now=59) is session
    assert store.get(sid, now=118) is session  # each use extends it
    assert store.get(sid, now=179) is None  # idle for 61 s
    assert store.get(other, now=30) is not None
    store.close(other)
    assert store.get(other, now=31) is None and store.get(None, now=0) is None


def test_the_oldest_sessions_make_room_when_the_store_is_full() -> None:
    store = SessionStore(ttl_s=60, max_sessions=2)
    first, _ = store.open("a", ANA, now=0)
    store.open("b", ANA, now=1)
    third, _ = store.open("c", ANA, now=2)
    assert store.get(first, now=3) is None and store.get(third, now=3) is not None


def test_csrf_tokens_are_per_session_and_compared_whole() -> None:
    store = SessionStore(ttl_s=60)
    _, one = store.open("a", ANA, now=0)
    _, two = store.open("a", ANA, now=0)
    assert csrf_ok(one, one.csrf) and not csrf_ok(one, two.csrf)
    assert not csrf_ok(one, None) and not csrf_ok(one, one.csrf[:-1])


def test_who_is_a_supervisor() -> None:
    assert not ANA.supervisor
    assert Identity("1" * 12, "ops", frozenset({"admin"}), None).supervisor
    assert Identity("1" * 12, "lead", frozenset({"agents:admin"}), None).supervisor


def test_durations_and_countdowns() -> None:
    assert [views.duration(s) for s in (0, 9, 65, 3600 + 5 * 60 + 7, -65)] == [
        "0s", "9s", "1m 05s", "1h 05m", "-1m 05s"]
    assert views.until((T0 + timedelta(minutes=3)).isoformat(), T0) == "3m 00s"
    assert views.until(None, T0) == "—"
    assert views.clock_time("2026-11-30T09:05:01+00:00") == "09:05:01 UTC"


def test_queues_show_depth_oldest_age_and_tickets_at_sla_risk_riskiest_first() -> None:
    soon = (T0 + timedelta(minutes=5)).isoformat()
    later = (T0 + timedelta(hours=4)).isoformat()
    past = (T0 - timedelta(minutes=1)).isoformat()
    rows = views.queue_rows(
        [{"queue": "l1", "depth": 3, "oldest_age_s": 400.0},
         {"queue": "l2", "depth": 1, "oldest_age_s": 30.0},
         {"queue": "l3", "depth": 5, "oldest_age_s": 10.0}],
        {"l1": [{"sla_due_at": later}, {"sla_due_at": None}],
         "l2": [{"sla_due_at": soon}, {"sla_due_at": past}], "l3": []}, T0)
    assert [(r["queue"], r["depth"], r["oldest"], r["at_risk"]) for r in rows] == [
        ("l2", 1, "30s", 2), ("l3", 5, "10s", 0), ("l1", 3, "6m 40s", 0)]


def test_agents_are_grouped_by_presence_with_load_per_channel() -> None:
    groups = dict(views.agents_by_presence([
        {"id": "b", "name": "B", "tier": 1, "presence": "away", "channels": {"chat": 2},
         "active_by_channel": {}, "active_total": 0, "max_total": 2},
        {"id": "a", "name": "A", "tier": 2, "presence": "available",
         "channels": {"portal": 3, "chat": 2}, "active_by_channel": {"chat": 1},
         "active_total": 1, "max_total": 4}]))
    assert list(groups) == ["available", "busy", "away", "offline"]
    assert groups["available"][0]["load"] == ["chat 1/2", "portal 0/3"]
    assert groups["available"][0]["total"] == "1/4" and groups["busy"] == []
    assert [a["id"] for a in groups["away"]] == ["b"]


def test_kpi_tiles_read_todays_report() -> None:
    tiles = views.kpi_tiles({"sla_attainment": {"resolved": 4, "met": 3, "rate": 0.75},
                             "fcr": {"issues": 2, "resolved_first_contact": 1, "rate": 0.5},
                             "csat": {"responses": 0, "satisfied": 0, "rate": None}})
    assert [(label, value) for label, value, _ in tiles] == [
        ("Service level", "75%"), ("FCR", "50%"), ("CSAT", "–")]
    assert tiles[0][2] == "3 of 4 resolved in SLA"
    assert views.kpi_tiles(None)[0][2] == "metrics unavailable"


def test_reasons_name_the_rule_the_trigger_and_a_supervisor() -> None:
    assert views.reasons_text({"rule": "network>=1", "trigger": "ticket created"}) == \
        "network>=1 · ticket created"
    assert views.reasons_text({"rule": "r", "forced": {"by": "lead", "reason": "VIP"}}) == \
        "r · assigned by lead: VIP"


def test_an_html_fragment_is_one_event_with_a_data_line_per_line() -> None:
    assert sse_html("work", "<p>a</p>\n<p>b</p>") == \
        "event: work\ndata: <p>a</p>\ndata: <p>b</p>\n\n"
    assert sse_html("work", "") == "event: work\ndata: \n\n"
