"""Standard cron semantics, checked against croniter (a test-only oracle), and the scheduler's
trigger driven by an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mlmkit.exceptions import ValidationError
from mlmkit.ops.cron import next_fire_times, parse_cron
from mlmkit.ops.scheduler import build_scheduler, load_schedule

croniter = pytest.importorskip("croniter").croniter

EXPRESSIONS = ["0 2 * * 0", "0 2 * * 7", "*/15 9-17 * * 1-5", "0 0 1,15 * 5", "@daily",
               "@hourly", "@weekly", "@monthly", "@yearly", "*/5 * * * *", "0 * * * *",
               "30 3 * * *", "0 3 * * *", "0 0 29 2 *", "0 12 * jan-mar sun",
               "5-59/20 */6 * * SAT", "0 0 31 * *", "0 0 * * 5-7", "0 0 1-7 * 1",
               "0 0 10-20/3 * *", "0 0 5/10 * *", "15 4 1 */3 *", "0 0 13 * fri"]
STARTS = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2023, 12, 31, 23, 59, 30, tzinfo=UTC),
          datetime(2025, 2, 28, 2, 0, tzinfo=UTC), datetime(2026, 6, 14, 1, 59, 59, tzinfo=UTC)]


def _oracle(expr, start, n, tz=None):
    it = croniter(expr, start if tz is None else start.astimezone(ZoneInfo(tz)))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(n)]


@pytest.mark.parametrize("expr", EXPRESSIONS)
@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.isoformat())
def test_next_50_fire_times_agree_with_croniter(expr, start):
    assert next_fire_times(expr, start, 50) == _oracle(expr, start, 50)


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("expr", ["0 9 * * 1-5", "*/30 * * * *", "15 * * * *",
                                  "*/7 1-3 * * *", "30 2 * * *", "0 2 * * 0"])
def test_zones_agree_with_croniter_across_spring_forward(tz, expr):
    # March / April jumps only: on a fall-back croniter fires a fixed time twice, cron once
    start = datetime(2024, 3, 1, tzinfo=UTC)
    n = 25 if "*" not in expr.split()[1] else 2500
    assert next_fire_times(expr, start, n, tz=tz) == _oracle(expr, start, n, tz)


def test_seed_auto_tuning_runs_on_sunday_not_monday():
    monday = datetime(2024, 1, 1, tzinfo=UTC)
    fires = next_fire_times("0 2 * * 0", monday, 5)
    assert {t.strftime("%A %H:%M") for t in fires} == {"Sunday 02:00"}
    assert next_fire_times("0 2 * * 7", monday, 5) == fires


def test_vixie_day_rule_star_prefix_means_unrestricted():
    # Both day fields restricted: either matches. A field starting with * (even */2) leaves
    # the other one alone in charge (Vixie cron; croniter disagrees for */2).
    jan = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    days = [t.day for t in next_fire_times("0 0 1,15 * 1", jan, 6)]
    assert days == [8, 15, 22, 29, 1, 5]  # Mondays, plus 15 Jan and 1 Feb
    assert [t.day for t in next_fire_times("0 0 */2 * 1", jan, 3)] == [15, 29, 5]  # odd Mondays
    assert [t.day for t in next_fire_times("0 0 * * 1", jan, 3)] == [8, 15, 22]


def test_fall_back_fixed_time_fires_once_frequent_keeps_real_time():
    start = datetime(2024, 10, 26, 23, 0, tzinfo=UTC)  # Berlin: 03:00 CEST -> 02:00 CET at 01:00
    fixed = next_fire_times("30 2 * * *", start, 2, tz="Europe/Berlin")
    assert fixed == [datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
                     datetime(2024, 10, 28, 1, 30, tzinfo=UTC)]
    frequent = next_fire_times("*/30 * * * *", start, 6, tz="Europe/Berlin")
    assert frequent == [start + timedelta(minutes=30 * k) for k in range(1, 7)]


@pytest.mark.parametrize("expr", ["* *", "60 * * * *", "0 24 * * *", "0 0 0 * *",
                                  "0 0 * 13 *", "0 0 * * 8", "*/0 * * * *", "5-1 * * * *",
                                  "0 0 * foo *", "@reboot", "0 0 30 2 *", "1,,2 * * * *", 5])
def test_bad_expressions_name_the_argument(expr):
    with pytest.raises(ValidationError, match=r"^cron must be a five-field crontab"):
        parse_cron(expr)


def test_bad_arguments():
    with pytest.raises(ValidationError, match="timezone must be an IANA"):
        parse_cron("* * * * *", "Mars/Olympus")
    with pytest.raises(ValidationError, match="n must be a non-negative integer"):
        next_fire_times("* * * * *", datetime(2024, 1, 1, tzinfo=UTC), -1)
    with pytest.raises(ValidationError, match=r"jobs\.retention\.cron must be"):
        load_schedule({"jobs": {"retention": {"cron": "0 0 * * sun-sat-mon"}}})
    with pytest.raises(ValidationError, match="timezone must be"):
        load_schedule({"timezone": "Nowhere/Special"})


def test_scheduler_trigger_uses_standard_cron_with_an_injected_clock(tmp_path):
    pytest.importorskip("apscheduler")
    sched = build_scheduler(tmp_path / "ws.duckdb", {"timezone": "UTC"})
    trigger = sched.get_job("auto-tuning").trigger
    monday = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    first = trigger.get_next_fire_time(None, monday)
    assert first == datetime(2024, 1, 7, 2, 0, tzinfo=UTC)  # APScheduler's own: Mon 1 Jan
    assert trigger.get_next_fire_time(first, first) == datetime(2024, 1, 14, 2, tzinfo=UTC)
    every5 = sched.get_job("performance-monitoring").trigger
    on_time = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    assert every5.get_next_fire_time(None, on_time) == on_time  # due now: fires now
    plan, tz = load_schedule()
    for item in plan:
        job_trigger = sched.get_job(item.job).trigger
        assert job_trigger.get_next_fire_time(None, monday) == next_fire_times(
            item.cron, monday - timedelta(microseconds=1), 1, tz=tz)[0]
