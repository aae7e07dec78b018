"""Digest schedules on the subscriber's wall clock: forms, errors, DST, downtime (frozen clocks)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.schedule_patterns import SCHEDULE_FORMS, ScheduleError
from alerts.schedules import Schedule, parse_schedule

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
KOLKATA = "Asia/Kolkata"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)  # type: ignore[misc]


def slots_between(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """Every slot s with start < s <= end, by walking next_slot."""
    found: list[datetime] = []
    moment = start
    while (slot := schedule.next_slot(moment)) is not None and slot <= end:
        found.append(slot)
        moment = slot
    return found


# -- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("immediate", "immediate"),
        ("hourly", "hourly"),
        ("daily 07:00", "daily"),
        ("daily 7:05", "daily"),
        ("weekly mon 07:00", "weekly"),
        ("weekly Sunday 23:59", "weekly"),
        ('cron "0 7 * * 1-5"', "cron"),
        ("cron 0 7 * * 1-5", "cron"),
        ("cron '*/15 * * * *'", "cron"),
        ("  DAILY   07:00 ", "daily"),
    ],
)
def test_each_form_parses_and_keeps_the_text_as_written(text: str, kind: str) -> None:
    schedule = parse_schedule(text, BERLIN)
    assert schedule.kind == kind
    assert schedule.text == text
    assert schedule.timezone == BERLIN


def test_default_zone_is_utc_and_schedules_compare_by_their_fields() -> None:
    assert parse_schedule("daily 07:00") == Schedule("daily", "daily 07:00", "UTC")
    assert parse_schedule("daily 07:00") != parse_schedule("daily 07:00", BERLIN)
    assert len({parse_schedule("hourly"), parse_schedule("hourly")}) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "sometimes",
        "daily",
        "daily 7",
        "daily 07:00 08:00",
        "daily 24:00",
        "daily 07:60",
        "daily 7am",
        "weekly 07:00",
        "weekly xyz 07:00",
        "weekly mon",
        "hourly 5",
        "immediate now",
        "cron",
        'cron "0 7 * *"',
        'cron "0 7 * * * *"',
        'cron "61 * * * *"',
        'cron "0 24 * * *"',
        'cron "0 0 0 * *"',
        'cron "0 0 * 13 *"',
        'cron "0 0 * * 8"',
        'cron "5-1 * * * *"',
        'cron "*/0 * * * *"',
        'cron "0 0 30 2 *"',
        'cron "0 0 31 apr,jun *"',
        'cron "0 7 * * 1-5',
        'cron "0 7 * * weekdays"',
    ],
)
def test_bad_text_raises_schedule_error_naming_the_forms(text: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(text)
    assert SCHEDULE_FORMS in str(caught.value)
    assert isinstance(caught.value, ValueError)  # pydantic validators can re-raise it as is


def test_error_message_says_what_is_wrong() -> None:
    with pytest.raises(ScheduleError, match="not a time between 00:00 and 23:59"):
        parse_schedule("daily 25:00")
    with pytest.raises(ScheduleError, match="5 fields"):
        parse_schedule('cron "0 7 * *"')
    with pytest.raises(ScheduleError, match="never fire"):
        parse_schedule('cron "0 0 30 2 *"')


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "CEST"])
def test_unknown_time_zone_raises_schedule_error(zone: str) -> None:
    with pytest.raises(ScheduleError, match="time zone"):
        parse_schedule("daily 07:00", zone)


def test_kind_must_agree_with_the_text() -> None:
    with pytest.raises(ScheduleError):
        Schedule("weekly", "daily 07:00")


def test_naive_datetimes_are_refused_and_other_offsets_are_converted() -> None:
    schedule = parse_schedule("daily 07:00", BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.previous_slot(datetime(2026, 1, 5, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.is_due(utc(2026, 1, 5, 12), datetime(2026, 1, 5, 6))
    tokyo = timezone(timedelta(hours=9))
    slot = schedule.next_slot(datetime(2026, 1, 5, 9, tzinfo=tokyo))  # = 00:00 UTC
    assert slot == utc(2026, 1, 5, 6)
    assert slot is not None and slot.tzinfo is UTC


# -- each form --------------------------------------------------------------------------------


def test_immediate_has_no_slots_and_is_always_due() -> None:
    schedule = parse_schedule("immediate", BERLIN)
    now = utc(2026, 1, 5, 12)
    assert schedule.previous_slot(now) is None
    assert schedule.next_slot(now) is None
    assert schedule.is_due(now, None)
    assert schedule.is_due(now, now)


def test_hourly_is_minute_zero_of_every_hour() -> None:
    schedule = parse_schedule("hourly")
    assert schedule.previous_slot(utc(2026, 1, 5, 12, 59)) == utc(2026, 1, 5, 12)
    assert schedule.previous_slot(utc(2026, 1, 5, 12)) == utc(2026, 1, 5, 12)  # slot <= now
    assert schedule.next_slot(utc(2026, 1, 5, 12)) == utc(2026, 1, 5, 13)  # slot > after
    assert schedule.next_slot(utc(2026, 12, 31, 23, 30)) == utc(2027, 1, 1, 0)


def test_daily_previous_and_next_slot() -> None:
    schedule = parse_schedule("daily 07:00")
    assert schedule.previous_slot(utc(2026, 1, 5, 6, 59)) == utc(2026, 1, 4, 7)
    assert schedule.previous_slot(utc(2026, 1, 5, 7)) == utc(2026, 1, 5, 7)
    assert schedule.next_slot(utc(2026, 1, 5, 7)) == utc(2026, 1, 6, 7)
    assert schedule.next_slot(utc(2026, 1, 5, 6, 59, 59, 999999)) == utc(2026, 1, 5, 7)


def test_weekly_fires_on_its_day_only() -> None:
    schedule = parse_schedule("weekly wed 18:30")
    # 2026-01-07 is a Wednesday.
    assert schedule.next_slot(utc(2026, 1, 5)) == utc(2026, 1, 7, 18, 30)
    assert schedule.next_slot(utc(2026, 1, 7, 18, 30)) == utc(2026, 1, 14, 18, 30)
    assert schedule.previous_slot(utc(2026, 1, 7, 18, 29)) == utc(2025, 12, 31, 18, 30)
    assert parse_schedule("weekly Wednesday 18:30").next_slot(utc(2026, 1, 5)) == utc(
        2026, 1, 7, 18, 30
    )


# -- Berlin: winter and summer offsets, both transitions ----------------------------------------


def test_berlin_daily_0700_is_0600_utc_in_winter_and_0500_utc_in_summer() -> None:
    schedule = parse_schedule("daily 07:00", BERLIN)
    assert schedule.next_slot(utc(2026, 1, 15)) == utc(2026, 1, 15, 6)
    assert schedule.next_slot(utc(2026, 7, 15)) == utc(2026, 7, 15, 5)
    assert schedule.previous_slot(utc(2026, 7, 15, 12)) == local(BERLIN, 2026, 7, 15, 7)


def test_spring_forward_nonexistent_time_fires_once_at_the_jump() -> None:
    """02:30 does not exist on 2026-03-29 in Berlin (02:00 CET -> 03:00 CEST, at 01:00 UTC)."""
    schedule = parse_schedule("daily 02:30", BERLIN)
    slots = slots_between(schedule, utc(2026, 3, 27), utc(2026, 3, 31))
    assert slots == [
        utc(2026, 3, 27, 1, 30),  # 02:30 CET
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),  # the first valid instant after 02:30: 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    assert slots[2].astimezone(ZoneInfo(BERLIN)).strftime("%H:%M %Z") == "03:00 CEST"
    assert schedule.previous_slot(utc(2026, 3, 29, 0, 59)) == utc(2026, 3, 28, 1, 30)
    assert schedule.is_due(utc(2026, 3, 29, 1, 0), utc(2026, 3, 28, 1, 30))
    assert not schedule.is_due(utc(2026, 3, 29, 23), utc(2026, 3, 29, 1, 0))


def test_fall_back_ambiguous_time_fires_once_at_its_first_occurrence() -> None:
    """02:30 happens twice on 2026-10-25 in Berlin: 00:30 UTC (CEST) and 01:30 UTC (CET)."""
    schedule = parse_schedule("daily 02:30", BERLIN)
    slots = slots_between(schedule, utc(2026, 10, 24), utc(2026, 10, 27))
    assert slots == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),  # fold=0, 02:30 CEST
        utc(2026, 10, 26, 1, 30),  # 02:30 CET; nothing at 2026-10-25 01:30 UTC
    ]
    # (compare in UTC: PEP 495 makes an ambiguous local time unequal to every other zone's)
    assert slots[1] == local(BERLIN, 2026, 10, 25, 2, 30, fold=0).astimezone(UTC)
    second_occurrence = local(BERLIN, 2026, 10, 25, 2, 30, fold=1)
    assert schedule.next_slot(utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)
    assert schedule.previous_slot(second_occurrence) == utc(2026, 10, 25, 0, 30)
    # Sent at the first 02:30: not due again at the second one.
    assert not schedule.is_due(second_occurrence, utc(2026, 10, 25, 0, 30, 5))


def test_times_outside_the_transition_are_unaffected_on_dst_days() -> None:
    schedule = parse_schedule("daily 07:00", BERLIN)
    assert schedule.next_slot(utc(2026, 3, 29)) == utc(2026, 3, 29, 5)
    assert schedule.next_slot(utc(2026, 10, 25)) == utc(2026, 10, 25, 6)


def test_hourly_follows_the_real_clock_through_both_transitions() -> None:
    schedule = parse_schedule("hourly", BERLIN)
    spring = slots_between(schedule, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))  # local day
    assert len(spring) == 23  # 02:00 never happened
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(spring))
    autumn = slots_between(schedule, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert len(autumn) == 25  # 02:00 CEST and 02:00 CET are both a new hour
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(autumn))


def test_cron_naming_the_hour_is_an_appointment_and_every_hour_follows_the_clock() -> None:
    fixed = parse_schedule('cron "30 2 * * *"', BERLIN)
    assert slots_between(fixed, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)) == [
        utc(2026, 10, 25, 0, 30)
    ]
    assert slots_between(fixed, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)) == [
        utc(2026, 3, 29, 1, 0)
    ]
    every = parse_schedule('cron "30 * * * *"', BERLIN)
    autumn = slots_between(every, utc(2026, 10, 25, 0), utc(2026, 10, 25, 2))
    assert autumn == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]  # 02:30 twice
    spring = slots_between(every, utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))
    assert spring == [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30)]  # 01:30, 03:30


def test_weekly_across_dst_keeps_the_local_time() -> None:
    schedule = parse_schedule("weekly mon 07:00", BERLIN)
    assert slots_between(schedule, utc(2026, 3, 20), utc(2026, 4, 1)) == [
        utc(2026, 3, 23, 6),  # CET
        utc(2026, 3, 30, 5),  # CEST
    ]
    assert slots_between(schedule, utc(2026, 10, 15), utc(2026, 10, 28)) == [
        utc(2026, 10, 19, 5),  # CEST
        utc(2026, 10, 26, 6),  # CET
    ]


# -- cron -------------------------------------------------------------------------------------


def test_cron_weekdays_at_seven() -> None:
    schedule = parse_schedule('cron "0 7 * * 1-5"', BERLIN)
    # 2026-01-09 is a Friday.
    assert schedule.next_slot(utc(2026, 1, 9, 6)) == utc(2026, 1, 12, 6)  # Monday 07:00 CET
    assert schedule.previous_slot(utc(2026, 1, 11, 12)) == utc(2026, 1, 9, 6)
    assert schedule.next_slot(utc(2026, 1, 5)) == utc(2026, 1, 5, 6)
    week = slots_between(schedule, utc(2026, 1, 4), utc(2026, 1, 11))
    assert [slot.astimezone(ZoneInfo(BERLIN)).strftime("%a %H:%M") for slot in week] == [
        "Mon 07:00",
        "Tue 07:00",
        "Wed 07:00",
        "Thu 07:00",
        "Fri 07:00",
    ]
    assert schedule.next_slot(utc(2026, 1, 10)) == utc(2026, 1, 12, 6)  # not Saturday
    named = parse_schedule("cron 0 7 * * mon-fri", BERLIN)
    assert slots_between(named, utc(2026, 1, 4), utc(2026, 1, 11)) == week


def test_cron_sunday_is_0_and_7_and_months_have_names() -> None:
    for dow in ("0", "7", "sun", "SUN"):
        schedule = parse_schedule(f'cron "0 9 * * {dow}"')
        assert schedule.next_slot(utc(2026, 1, 5)) == utc(2026, 1, 11, 9)  # a Sunday
    quarterly = parse_schedule('cron "0 0 1 jan,apr,jul,oct *"')
    assert slots_between(quarterly, utc(2026, 1, 1), utc(2026, 12, 31)) == [
        utc(2026, 4, 1),
        utc(2026, 7, 1),
        utc(2026, 10, 1),
    ]


def test_cron_day_of_month_or_day_of_week_when_both_are_given() -> None:
    schedule = parse_schedule('cron "0 0 13 * fri"')
    # November 2026: Fridays 6, 13, 20, 27 and the 13th (a Friday too).
    got = slots_between(schedule, utc(2026, 10, 31), utc(2026, 11, 30))
    assert [slot.day for slot in got] == [6, 13, 20, 27]
    # "*/10" counts as unrestricted (Vixie cron): days 1, 11, 21, 31 that are also Mondays.
    both = parse_schedule('cron "0 0 */10 * mon"')
    got = slots_between(both, utc(2026, 1, 1), utc(2026, 12, 31))
    assert [slot.date().isoformat() for slot in got] == [
        "2026-05-11",
        "2026-06-01",
        "2026-08-31",
        "2026-09-21",
        "2026-12-21",
    ]


def test_rare_cron_finds_the_next_leap_day() -> None:
    schedule = parse_schedule('cron "0 12 29 2 *"')
    assert schedule.next_slot(utc(2026, 3, 1)) == utc(2028, 2, 29, 12)
    assert schedule.previous_slot(utc(2026, 3, 1)) == utc(2024, 2, 29, 12)


@pytest.mark.parametrize(
    "expression",
    ["0 7 * * mon-fri", "*/15 9-17 * * *", "5 4 * * sun", "0 0 1,15 * *", "30 6 */2 jan-mar *"],
)
def test_cron_agrees_with_apscheduler_in_utc(expression: str) -> None:
    """APScheduler's CronTrigger as an independent reference where its semantics are cron's.

    Days of the week by name only: APScheduler 3's from_crontab keeps its own numbering
    (0 = Monday), so "1-5" there means Tue-Sat; see test_cron_weekdays_at_seven for ours.
    """
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(expression, timezone="UTC")
    schedule = parse_schedule(f'cron "{expression}"')
    moment = utc(2026, 1, 1)
    for _ in range(50):
        expected = trigger.get_next_fire_time(None, moment + timedelta(seconds=1))
        got = schedule.next_slot(moment)
        assert got == expected
        assert got is not None
        moment = got


# -- is_due -----------------------------------------------------------------------------------


def test_is_due_without_a_last_digest() -> None:
    schedule = parse_schedule("daily 07:00", BERLIN)
    assert schedule.is_due(utc(2026, 1, 5, 12), None)


def test_downtime_over_three_slots_is_due_once_then_waits_for_the_next_slot() -> None:
    schedule = parse_schedule("daily 07:00", BERLIN)
    last = utc(2026, 1, 5, 6, 0, 30)  # built just after Monday's 07:00 CET
    now = utc(2026, 1, 8, 12)  # back after missing Tue, Wed and Thu
    assert len(slots_between(schedule, last, now)) == 3
    assert schedule.is_due(now, last)
    last = now  # the caller builds ONE digest and records it
    assert not schedule.is_due(now, last)
    assert not schedule.is_due(utc(2026, 1, 9, 5, 59, 59), last)
    assert schedule.is_due(utc(2026, 1, 9, 6), last)  # Friday's 07:00 CET, exactly


def test_is_due_is_false_until_the_next_slot_and_true_from_it() -> None:
    schedule = parse_schedule("hourly", KOLKATA)
    last = utc(2026, 1, 5, 4, 30)  # 10:00 IST
    assert not schedule.is_due(utc(2026, 1, 5, 5, 29, 59), last)
    assert schedule.is_due(utc(2026, 1, 5, 5, 30), last)
    assert not schedule.is_due(utc(2026, 1, 5, 4, 0), last)  # a clock behind the record


# -- other zones ------------------------------------------------------------------------------


def test_new_york_offsets_and_transitions() -> None:
    schedule = parse_schedule("daily 07:00", NEW_YORK)
    assert schedule.next_slot(utc(2026, 1, 15)) == utc(2026, 1, 15, 12)  # EST, -05:00
    assert schedule.next_slot(utc(2026, 7, 15)) == utc(2026, 7, 15, 11)  # EDT, -04:00
    # 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00 UTC; 02:30 fires at 03:00 EDT.
    spring = parse_schedule("daily 02:30", NEW_YORK)
    assert slots_between(spring, utc(2026, 3, 8), utc(2026, 3, 9, 12)) == [
        utc(2026, 3, 8, 7),
        utc(2026, 3, 9, 6, 30),
    ]
    # 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST); only the first fires.
    autumn = parse_schedule("daily 01:30", NEW_YORK)
    assert slots_between(autumn, utc(2026, 11, 1), utc(2026, 11, 2, 12)) == [
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]


def test_kolkata_half_hour_offset() -> None:
    assert parse_schedule("daily 07:00", KOLKATA).next_slot(utc(2026, 6, 1)) == utc(
        2026, 6, 1, 1, 30
    )
    hourly = parse_schedule("hourly", KOLKATA)
    assert hourly.next_slot(utc(2026, 6, 1, 10, 0)) == utc(2026, 6, 1, 10, 30)
    assert hourly.previous_slot(utc(2026, 6, 1, 10, 29)) == utc(2026, 6, 1, 9, 30)
    weekly = parse_schedule("weekly mon 00:15", KOLKATA)  # Monday 00:15 IST is Sunday in UTC
    assert weekly.next_slot(utc(2026, 6, 1)) == utc(2026, 6, 7, 18, 45)


# -- invariants -------------------------------------------------------------------------------

_ZONES = [BERLIN, NEW_YORK, KOLKATA, "UTC", "Australia/Lord_Howe", "America/Santiago"]
_TEXTS = [
    "hourly",
    "daily 02:30",
    "daily 00:00",
    "weekly sun 02:00",
    'cron "*/20 * * * *"',
    'cron "0 0-3 * * 0,6"',
]


@settings(max_examples=300, deadline=None)
@given(
    text=st.sampled_from(_TEXTS),
    zone=st.sampled_from(_ZONES),
    moment=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 1, 1)),
)
def test_previous_and_next_slot_bracket_every_instant(
    text: str, zone: str, moment: datetime
) -> None:
    schedule = parse_schedule(text, zone)
    now = moment.replace(tzinfo=UTC)
    previous, following = schedule.previous_slot(now), schedule.next_slot(now)
    assert previous is not None and following is not None
    assert previous <= now < following
    assert schedule.next_slot(previous) == following  # nothing in between
    assert schedule.previous_slot(following - timedelta(microseconds=1)) == previous
    assert schedule.is_due(now, previous - timedelta(microseconds=1))
    assert not schedule.is_due(now, previous)


@settings(max_examples=100, deadline=None)
@given(
    zone=st.sampled_from(_ZONES),
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 1, 1)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_daily_fires_exactly_once_per_local_day(
    zone: str, day: date, hour: int, minute: int
) -> None:
    schedule = parse_schedule(f"daily {hour:02d}:{minute:02d}", zone)
    tz = ZoneInfo(zone)
    around = datetime.combine(day, time(12), tzinfo=UTC)
    slots = slots_between(schedule, around - timedelta(days=2), around + timedelta(days=2))
    on_day = [slot for slot in slots if slot.astimezone(tz).date() == day]
    assert len(on_day) == 1
