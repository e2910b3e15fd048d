"""Shifts in the operator's own time zone, exact to the second: no database (crm.shifts is plain data)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from crm.choices import ScheduleExceptionKind
from crm.shifts import DateException, Shift, Weekly, current_or_next

WEEKDAYS_9_TO_18 = [Weekly(d, time(9), time(18)) for d in range(5)]
SECOND = timedelta(seconds=1)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def shift(now, weekly=WEEKDAYS_9_TO_18, exceptions=(), zone="Europe/Moscow") -> Shift:
    return current_or_next(zone=zone, weekly=weekly, exceptions=exceptions, now=now)


def test_a_shift_holds_from_its_first_second_to_before_its_end_in_the_operators_zone():
    # Moscow is UTC+3 all year: Monday 2026-12-07 09:00 MSK is 06:00 UTC.
    monday = shift(utc(2026, 12, 7, 5, 0))
    assert (monday.starts, monday.ends) == (utc(2026, 12, 7, 6), utc(2026, 12, 7, 15))
    assert not monday.holds(utc(2026, 12, 7, 6) - SECOND)
    assert monday.holds(utc(2026, 12, 7, 6))  # 09:00:00 MSK exactly
    assert monday.holds(utc(2026, 12, 7, 15) - SECOND)
    assert not monday.holds(utc(2026, 12, 7, 15))  # 18:00:00 MSK: over
    # At 18:00 the next one is Tuesday's; on Friday evening, Monday's.
    assert shift(utc(2026, 12, 7, 15)).starts == utc(2026, 12, 8, 6)
    assert shift(utc(2026, 12, 11, 15)).starts == utc(2026, 12, 14, 6)


def test_a_night_shift_crosses_midnight_and_adjacent_intervals_are_one_shift():
    nights = [Weekly(0, time(22), time(6)), Weekly(1, time(0), time(2))]  # Mon 22:00 – Tue 06:00, Tue 00–02
    found = shift(utc(2026, 12, 7, 20), weekly=nights)  # Monday 23:00 MSK
    assert (found.starts, found.ends) == (utc(2026, 12, 7, 19), utc(2026, 12, 8, 3))
    assert found.holds(utc(2026, 12, 8, 2, 59, 59)) and not found.holds(utc(2026, 12, 8, 3))
    split = [Weekly(0, time(20), time(0)), Weekly(1, time(0), time(4))]  # two days' halves, touching
    assert shift(utc(2026, 12, 7, 18), weekly=split) == Shift(utc(2026, 12, 7, 17), utc(2026, 12, 8, 1))


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        ("Europe/Berlin", date(2026, 3, 29), date(2026, 10, 25)),
        ("America/New_York", date(2026, 3, 8), date(2026, 11, 1)),
    ],
)
def test_the_two_daylight_saving_days_follow_the_zones_clock(zone, spring, autumn):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    every_day = [Weekly(d, time(9), time(18)) for d in range(7)]
    for day in (spring, autumn):
        found = shift(datetime.combine(day, time(1), tzinfo=tz), weekly=every_day, zone=zone)
        # 09:00 and 18:00 on the clock of that very day (summer time after the spring change, winter after
        # the autumn one), to the second.
        assert found.starts == datetime.combine(day, time(9), tzinfo=tz).astimezone(UTC)
        assert found.ends == datetime.combine(day, time(18), tzinfo=tz).astimezone(UTC)
        assert not found.holds(found.starts - SECOND) and found.holds(found.starts)
    # A night shift 22:00–06:00 over each change: an hour shorter in spring, an hour longer in autumn.
    nights = [Weekly(d, time(22), time(6)) for d in range(7)]
    short = shift(datetime.combine(spring - timedelta(days=1), time(23), tzinfo=tz), weekly=nights, zone=zone)
    long = shift(datetime.combine(autumn - timedelta(days=1), time(23), tzinfo=tz), weekly=nights, zone=zone)
    assert short.ends - short.starts == timedelta(hours=7)
    assert long.ends - long.starts == timedelta(hours=9)
    assert short.ends == datetime.combine(spring, time(6), tzinfo=tz).astimezone(UTC)


def test_a_local_time_the_clock_skips_is_read_with_the_offset_before_the_change():
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Berlin")
    early = [Weekly(6, time(2, 30), time(8))]  # Sundays; 2026-03-29 02:30 does not exist in Berlin
    found = shift(datetime(2026, 3, 29, 0, 30, tzinfo=tz), weekly=early, zone="Europe/Berlin")
    assert found.starts == utc(2026, 3, 29, 1, 30)  # 02:30 read as CET: 03:30 CEST


def test_days_off_and_changed_hours_replace_the_week_and_the_operators_own_wins():
    holiday = DateException(date(2026, 12, 31), date(2027, 1, 2), ScheduleExceptionKind.DAY_OFF, own=False)
    short_day = DateException(
        date(2026, 12, 30), date(2026, 12, 30), ScheduleExceptionKind.HOURS, time(10), time(14)
    )
    # Wednesday 30th: 10:00–14:00 MSK only; Thursday 31st to Saturday: the company's holiday; next: Monday.
    assert shift(utc(2026, 12, 30, 0), exceptions=[holiday, short_day]) == Shift(
        utc(2026, 12, 30, 7), utc(2026, 12, 30, 11)
    )
    assert shift(utc(2026, 12, 30, 11), exceptions=[holiday, short_day]).starts == utc(2027, 1, 4, 6)
    # The operator works the 31st anyway, 12:00–16:00: their own exception beats everyone's.
    duty = DateException(
        date(2026, 12, 31), date(2026, 12, 31), ScheduleExceptionKind.HOURS, time(12), time(16)
    )
    assert shift(utc(2026, 12, 30, 11), exceptions=[holiday, short_day, duty]).starts == utc(2026, 12, 31, 9)


def test_without_a_weekly_schedule_always_on_shift_except_the_operators_own_days_off():
    leave = DateException(date(2026, 12, 10), date(2026, 12, 11), ScheduleExceptionKind.DAY_OFF)
    holiday = DateException(date(2026, 12, 8), date(2026, 12, 8), ScheduleExceptionKind.DAY_OFF, own=False)
    found = shift(utc(2026, 12, 7, 12), weekly=[], exceptions=[leave, holiday])
    assert found.holds(utc(2026, 12, 8, 12))  # the company's holiday: a round-the-clock line works
    assert found.ends == utc(2026, 12, 9, 21)  # midnight MSK before the leave
    assert shift(found.ends, weekly=[], exceptions=[leave]).starts == utc(2026, 12, 11, 21)


def test_no_shift_in_sight_is_off_shift():
    forever = DateException(date(2026, 1, 1), date(2030, 1, 1), ScheduleExceptionKind.DAY_OFF)
    found = shift(utc(2026, 12, 7, 12), exceptions=[forever])
    assert found == Shift(None, None) and not found.holds(utc(2026, 12, 7, 12))


def test_a_day_reads_as_the_week_says_or_as_its_exception_says():
    from crm.shifts import day_of

    split = [Weekly(0, time(9), time(13)), Weekly(0, time(14), time(18)), Weekly(1, time(22), time(6))]
    monday, tuesday, wednesday = date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9)
    plain = day_of(weekly=split, exceptions=[], on=monday)
    assert plain.intervals == ((time(9), time(13)), (time(14), time(18)))
    assert plain.exception is None and plain.scheduled
    assert day_of(weekly=split, exceptions=[], on=tuesday).intervals == ((time(22), time(6)),)
    assert day_of(weekly=split, exceptions=[], on=wednesday).intervals == ()
    holiday = DateException(monday, monday, ScheduleExceptionKind.DAY_OFF, own=False)
    off = day_of(weekly=split, exceptions=[holiday], on=monday)
    assert off.intervals == () and off.exception == holiday
    # The operator's own changed hours win over everyone's holiday, as for the shift itself.
    hours = DateException(monday, monday, ScheduleExceptionKind.HOURS, time(10), time(12))
    assert day_of(weekly=split, exceptions=[holiday, hours], on=monday).intervals == ((time(10), time(12)),)


def test_a_day_without_a_schedule_is_whole_and_ignores_everyones_holidays():
    from crm.shifts import day_of

    monday = date(2026, 12, 7)
    holiday = DateException(monday, monday, ScheduleExceptionKind.DAY_OFF, own=False)
    free = day_of(weekly=[], exceptions=[holiday], on=monday)
    assert free == type(free)(monday, ((time.min, time.min),), None, scheduled=False)
    leave = DateException(monday, monday, ScheduleExceptionKind.DAY_OFF)
    assert day_of(weekly=[], exceptions=[leave], on=monday).scheduled
