from datetime import UTC, datetime, timedelta

from tierline_metrics.staffing.adherence import adherence

T = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def test_share_of_scheduled_time_available_or_busy() -> None:
    presence = [(h(-1), "offline"), (h(0.5), "available"), (h(3), "busy"), (h(4), "away"),
                (h(4.5), "available")]
    result = adherence("ana", [(h(0), h(8))], presence, until=h(10))
    assert result.scheduled_s == 8 * 3600
    assert result.adherent_s == (2.5 + 1 + 3.5) * 3600  # late start and half an hour away
    assert result.ratio == 7 / 8


def test_unjudged_future_and_no_presence_at_all() -> None:
    assert adherence("b", [(h(0), h(8))], [], until=h(2)).ratio == 0.0
    partial = adherence("c", [(h(0), h(8))], [(h(-2), "available")], until=h(2))
    assert partial.scheduled_s == 2 * 3600 and partial.ratio == 1.0
    assert adherence("d", [], [], until=h(2)).ratio is None
