"""Working calendar: hand-computed deadlines, properties, validation, the shipped file.

Office hours in the examples: 08:30-12:00 and 14:00-17:30 (7 h a day).
"""

import copy
import itertools
import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.cases import calendar as calendar_mod
from gridmap.cases.calendar import MAX_HOURS, Overdue, WorkingCalendar, _to_us, overdue
from gridmap.cases.categories import Category, load_categories
from gridmap.errors import BadInput, ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "geodata" / "calendar.json"
SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SHIPPED_DOC = json.loads(SHIPPED.read_text(encoding="utf-8"))
OFFICE = {"timezone": "Asia/Shanghai", "working_days": ["mon", "tue", "wed", "thu", "fri"],
          "working_hours": [["08:30", "12:00"], ["14:00", "17:30"]]}
ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SANITATION = Category("06", "环境卫生", "Sanitation", 1.0, 4.0, 8.0)


def sh(*args):
    return datetime(*args, tzinfo=SH)


@pytest.fixture(scope="module")
def cal():
    return WorkingCalendar.load(SHIPPED)


@pytest.fixture(scope="module")
def plain():
    """Same hours, no holidays or make-up days."""
    return WorkingCalendar.from_dict(OFFICE)


# -- an independent oracle: walk the minutes of the shipped calendar --------

HOLIDAYS = {date.fromisoformat(d) for d in SHIPPED_DOC["holidays"]}
WORKDAYS = {date.fromisoformat(d) for d in SHIPPED_DOC["workdays"]}


def oracle_is_working_day(day):
    return day in WORKDAYS or (day.weekday() < 5 and day not in HOLIDAYS)


def oracle_add_minutes(start_local, minutes):
    """Walk whole minutes of naive Beijing time (UTC+8, no DST); return the end as naive local time."""
    t, left = start_local, minutes
    while True:
        if not oracle_is_working_day(t.date()):
            t = datetime.combine(t.date() + timedelta(days=1), datetime.min.time())
            continue
        m = t.hour * 60 + t.minute
        if 510 <= m < 720 or 840 <= m < 1050:
            left -= 1
            if left == 0:
                return t + timedelta(minutes=1)
        t += timedelta(minutes=1)


# -- hand-computed examples ------------------------------------------------

@pytest.mark.parametrize("start, hours, expected", [
    # Fri 16:00: 1.5 h on Friday, 2.5 h from Monday 08:30
    (sh(2026, 3, 13, 16, 0), 4, sh(2026, 3, 16, 11, 0)),
    # across lunch: 11:00-12:00, then 14:00-15:00
    (sh(2026, 3, 16, 11, 0), 2, sh(2026, 3, 16, 15, 0)),
    # reported at lunch: the clock starts at 14:00
    (sh(2026, 3, 16, 12, 30), 0.5, sh(2026, 3, 16, 14, 30)),
    # at night and early morning
    (sh(2026, 3, 17, 20, 0), 1, sh(2026, 3, 18, 9, 30)),
    (sh(2026, 3, 18, 6, 0), 1, sh(2026, 3, 18, 9, 30)),
    # on a Saturday
    (sh(2026, 3, 14, 10, 0), 1, sh(2026, 3, 16, 9, 30)),
    # a limit running out at the end of a period is due then, not at the next start
    (sh(2026, 3, 16, 8, 30), 3.5, sh(2026, 3, 16, 12, 0)),
    (sh(2026, 3, 16, 8, 30), 7, sh(2026, 3, 16, 17, 30)),
    (sh(2026, 3, 16, 8, 30), 14, sh(2026, 3, 17, 17, 30)),
    (sh(2026, 3, 16, 8, 30), 14.5, sh(2026, 3, 18, 9, 0)),
    # reported exactly at closing time
    (sh(2026, 3, 16, 17, 30), 0.25, sh(2026, 3, 17, 8, 45)),
    # fractions, exact to the second
    (sh(2026, 3, 16, 9, 10), 1 / 3, sh(2026, 3, 16, 9, 30)),
    (sh(2026, 3, 16, 11, 59, 30), 0.5, sh(2026, 3, 16, 14, 29, 30)),
    (sh(2026, 3, 16, 9, 0), 1 / 3600, sh(2026, 3, 16, 9, 0, 1)),
    # 清明 Sat 4 Apr - Mon 6 Apr
    (sh(2026, 4, 3, 17, 0), 1, sh(2026, 4, 7, 9, 0)),
    # 劳动节 1-5 May: 1.5 h on Thursday 30 April, the rest on Wednesday 6 May
    (sh(2026, 4, 30, 16, 0), 3, sh(2026, 5, 6, 10, 0)),
    # 春节: Saturday 14 Feb is a make-up working day, 15-23 Feb are off
    (sh(2026, 2, 13, 17, 0), 1, sh(2026, 2, 14, 9, 0)),
    (sh(2026, 2, 14, 17, 0), 1, sh(2026, 2, 24, 9, 0)),
    (sh(2026, 2, 27, 17, 0), 1, sh(2026, 2, 28, 9, 0)),
    # 国庆: Sunday 20 Sep and Saturday 10 Oct are make-up days, 1-7 Oct off
    (sh(2026, 9, 19, 10, 0), 1, sh(2026, 9, 20, 9, 30)),
    (sh(2026, 9, 30, 17, 0), 1, sh(2026, 10, 8, 9, 0)),
    (sh(2026, 10, 9, 17, 0), 1, sh(2026, 10, 10, 9, 0)),
    # 元旦: 1-3 Jan off, Sunday 4 Jan worked
    (sh(2025, 12, 31, 17, 0), 1, sh(2026, 1, 4, 9, 0)),
])
def test_add_working_hours_hand_examples(cal, start, hours, expected):
    assert cal.add_working_hours(start, hours) == expected


@pytest.mark.parametrize("start, hours, expected", [
    (datetime(2026, 3, 13, 8, 0, tzinfo=UTC), 4, sh(2026, 3, 16, 11, 0)),  # Fri 16:00 in Beijing
    (datetime(2026, 3, 16, 4, 30, tzinfo=UTC), 0.5, sh(2026, 3, 16, 14, 30)),  # Beijing lunch
    (datetime(2026, 3, 15, 20, 0, tzinfo=NY), 1, sh(2026, 3, 16, 9, 30)),  # EDT 20:00 = Mon 08:00 CST
])
def test_start_in_another_timezone(cal, start, hours, expected):
    result = cal.add_working_hours(start, hours)
    assert result == expected
    assert result.tzinfo == SH and result.utcoffset() == timedelta(hours=8)
    assert (result.hour, result.minute) == (expected.hour, expected.minute)


def test_a_thousand_hours_without_holidays(plain):
    # 140 working days = 28 weeks to Mon 28 Sep, 2 more days, then 6 h on Wed 30 Sep
    assert plain.add_working_hours(sh(2026, 3, 16, 8, 30), 1000) == sh(2026, 9, 30, 16, 30)


def test_a_thousand_hours_against_the_minute_oracle(cal):
    start = datetime(2026, 1, 5, 9, 0)
    expected = oracle_add_minutes(start, 1000 * 60)
    assert cal.add_working_hours(start.replace(tzinfo=SH), 1000) == expected.replace(tzinfo=SH)


@pytest.mark.parametrize("a, b, hours", [
    (sh(2026, 3, 13, 16, 0), sh(2026, 3, 16, 11, 0), 4.0),
    (sh(2026, 3, 16, 11, 0), sh(2026, 3, 13, 16, 0), -4.0),
    (sh(2026, 3, 16, 11, 0), sh(2026, 3, 16, 15, 0), 2.0),
    (sh(2026, 3, 16, 12, 10), sh(2026, 3, 16, 13, 50), 0.0),
    (sh(2026, 3, 14, 9, 0), sh(2026, 3, 15, 18, 0), 0.0),
    (sh(2026, 3, 16, 10, 0), sh(2026, 3, 16, 10, 0), 0.0),
    (sh(2026, 3, 16), sh(2026, 3, 17), 7.0),
    (sh(2026, 3, 16, 10, 0), sh(2026, 3, 16, 10, 0, 36), 0.01),
    # Sat 14 Feb (make-up) and Tue 24 Feb; 15-23 Feb off
    (sh(2026, 2, 14), sh(2026, 2, 25), 14.0),
    # 00:00-06:00 UTC is 08:00-14:00 in Beijing: the whole morning period
    (datetime(2026, 3, 16, 0, 0, tzinfo=UTC), datetime(2026, 3, 16, 6, 0, tzinfo=UTC), 3.5),
])
def test_working_hours_between_hand_examples(cal, a, b, hours):
    assert cal.working_hours_between(a, b) == pytest.approx(hours, abs=1e-9)


def test_working_hours_of_2026(cal):
    # 261 weekdays - 19 weekdays off + 6 make-up days = 248 working days of 7 h
    assert cal.working_hours_between(sh(2026, 1, 1), sh(2027, 1, 1)) == pytest.approx(248 * 7)


@pytest.mark.parametrize("t, expected", [
    (sh(2026, 3, 16, 8, 30), True),
    (sh(2026, 3, 16, 8, 29, 59), False),
    (sh(2026, 3, 16, 11, 59, 59), True),
    (sh(2026, 3, 16, 12, 0), False),
    (sh(2026, 3, 16, 14, 0), True),
    (sh(2026, 3, 16, 17, 30), False),
    (sh(2026, 3, 14, 10, 0), False),   # Saturday
    (sh(2026, 2, 14, 10, 0), True),    # make-up Saturday
    (sh(2026, 10, 5, 10, 0), False),   # 国庆 Monday
    (datetime(2026, 3, 16, 2, 0, tzinfo=UTC), True),  # 10:00 in Beijing
])
def test_is_working_time(cal, t, expected):
    assert cal.is_working_time(t) is expected


@pytest.mark.parametrize("t, expected", [
    (sh(2026, 3, 13, 18, 0), sh(2026, 3, 16, 8, 30)),
    (sh(2026, 3, 16, 10, 0), sh(2026, 3, 16, 10, 0)),
    (sh(2026, 3, 16, 12, 0), sh(2026, 3, 16, 14, 0)),
    (sh(2026, 9, 30, 18, 0), sh(2026, 10, 8, 8, 30)),
    (datetime(2026, 3, 16, 4, 0, tzinfo=UTC), sh(2026, 3, 16, 14, 0)),
])
def test_next_working_start(cal, t, expected):
    result = cal.next_working_start(t)
    assert result == expected and result.tzinfo == SH


# -- daylight saving time (not in Shanghai, but nothing may assume its absence) --

def test_a_day_of_spring_forward_has_23_working_hours():
    cal = WorkingCalendar.from_dict({"timezone": "Europe/Berlin", "working_days": ALL_WEEK,
                                     "working_hours": [["00:00", "24:00"]]})
    day = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert cal.working_hours_between(day, day + timedelta(days=1)) == pytest.approx(23)
    assert cal.add_working_hours(day, 24) == datetime(2026, 3, 30, 1, 0, tzinfo=BERLIN)


def test_a_day_of_fall_back_has_25_working_hours():
    cal = WorkingCalendar.from_dict({"timezone": "America/New_York", "working_days": ALL_WEEK,
                                     "working_hours": [["00:00", "24:00"]]})
    day = datetime(2026, 11, 1, tzinfo=NY)
    assert cal.working_hours_between(day, day + timedelta(days=1)) == pytest.approx(25)
    assert cal.add_working_hours(day, 24) == datetime(2026, 11, 1, 23, 0, tzinfo=NY)


@pytest.mark.parametrize("hours", [[["00:00", "02:30"], ["02:30", "24:00"]],
                                   [["00:00", "02:30"], ["03:00", "24:00"]],
                                   [["00:00", "02:00"], ["02:15", "02:45"], ["03:00", "24:00"]]])
def test_periods_in_the_dst_gap_are_never_counted_twice(hours):
    cal = WorkingCalendar.from_dict({"timezone": "Europe/Berlin", "working_days": ALL_WEEK,
                                     "working_hours": hours})
    day = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert cal.working_hours_between(day, day + timedelta(days=1)) <= 23 + 1e-9
    for h in (1, 1.75, 2.5, 3, 20):
        assert cal.working_hours_between(day, cal.add_working_hours(day, h)) == pytest.approx(h)


def test_office_hours_across_a_dst_weekend():
    cal = WorkingCalendar.from_dict({"timezone": "Europe/Berlin", "working_days": ALL_WEEK[:5],
                                     "working_hours": [["09:00", "17:00"]]})
    result = cal.add_working_hours(datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN), 2)
    assert result == datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    assert result.utcoffset() == timedelta(hours=2)


# -- the timeline (deadlines by bisection) against the walk -----------------------

TIMELINE_CALENDARS = {
    "shipped": SHIPPED_DOC,
    "berlin nights": {"timezone": "Europe/Berlin", "working_days": ALL_WEEK[:6],
                      "working_hours": [["00:00", "02:30"], ["03:00", "12:00"], ["22:00", "24:00"]]},
    "new york": {"timezone": "America/New_York", "working_days": ALL_WEEK[:5],
                 "working_hours": [["09:00", "17:00"]]},
}


def walking(doc):
    """A calendar whose deadlines always come from the walk."""
    cal = WorkingCalendar.from_dict(doc)
    object.__setattr__(cal, "_timeline_after", lambda t, needs: None)
    return cal


@pytest.mark.parametrize("name", TIMELINE_CALENDARS)
@settings(max_examples=300, deadline=None)
@given(start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31),
                          timezones=st.sampled_from([SH, UTC, NY, BERLIN])),
       sign=st.sampled_from([0.25, 1, 3.5, 4, 7, 8, 24]) | st.floats(0.001, 400),
       handle=st.sampled_from([0, 0.5, 4, 8, 40, 100]) | st.floats(0.001, 400))
def test_the_timeline_finds_what_the_walk_finds(name, start, sign, handle):
    """Including deadlines that end exactly at the end of a period, across DST
    changes and days without work; at the first lookup and at later ones."""
    doc = TIMELINE_CALENDARS[name]
    timeline, walk = WorkingCalendar.from_dict(doc), walking(doc)
    needs = (sign, sign + handle) if handle else (sign,)
    expected, found = walk._after(start, *needs), timeline._after(start, *needs)
    assert found == expected
    assert [a.utcoffset() for a in found] == [b.utcoffset() for b in expected]
    assert timeline._timeline is not None
    later = start + timedelta(days=3, hours=5)  # from the timeline built for start
    assert timeline._after(later, *needs) == walk._after(later, *needs)


def walked_hours(cal, a, b):
    """Working hours from ``a`` to ``b`` (a before b) by walking the spans."""
    ta, tb = _to_us(a), _to_us(b)
    return sum(min(end, tb) - max(start, ta)
               for start, end in itertools.takewhile(lambda s: s[0] < tb, cal._spans(ta))) / 3.6e9


@pytest.mark.parametrize("name", TIMELINE_CALENDARS)
@settings(max_examples=200, deadline=None)
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31),
                          timezones=st.sampled_from([SH, UTC, NY, BERLIN])),
       span=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=900)),
       again=st.timedeltas(min_value=timedelta(days=-30), max_value=timedelta(days=30)))
def test_hours_between_summed_once_are_the_walks(name, start, span, again):
    """Hours between two times come from spans summed once and kept (a case months
    overdue costs two bisections): the same as walking them, each way, and for a
    second pair near the first (the kept sums) or far from it (made again)."""
    cal = WorkingCalendar.from_dict(TIMELINE_CALENDARS[name])
    for a in (start, start + again):
        b = a + span
        assert cal.working_hours_between(a, b) == walked_hours(cal, a, b)
        assert cal.working_hours_between(b, a) == -walked_hours(cal, a, b)
    assert (cal._span_table is not None) == (span > timedelta(0))


def test_hours_between_times_years_apart_are_walked(plain):
    a = sh(2026, 1, 1)
    b = a + timedelta(days=calendar_mod.SPAN_TABLE_MAX + 1)
    assert plain.working_hours_between(a, b) == walked_hours(plain, a, b)
    assert plain._span_table is None


def test_the_timeline_follows_the_present_and_leaves_the_past_to_the_walk(plain):
    cal = WorkingCalendar.from_dict(OFFICE)
    now = sh(2026, 3, 13, 16, 0)
    assert cal.add_working_hours(now, 4) == sh(2026, 3, 16, 11, 0)
    kept = cal._timeline
    assert kept.first <= _to_us(now) < kept.last
    assert cal.add_working_hours(sh(2025, 3, 13, 16, 0), 4) == sh(2025, 3, 14, 11, 0)
    assert cal._timeline is kept  # a past instant does not replace it
    assert cal.add_working_hours(sh(2026, 9, 1, 9, 0), 1) == sh(2026, 9, 1, 10, 0)
    assert cal._timeline.first > kept.first  # time moved on: built again
    assert cal.add_working_hours(now, 4000) == plain.add_working_hours(now, 4000)  # beyond it


def test_a_timeline_built_for_a_future_instant_gives_way_to_the_present(plain):
    cal = WorkingCalendar.from_dict(OFFICE)
    future = datetime.now(SH).replace(microsecond=0) + timedelta(days=3 * 365)
    assert cal.add_working_hours(future, 4) == plain.add_working_hours(future, 4)
    assert cal._timeline.first > _to_us(datetime.now(UTC))
    now = datetime.now(SH).replace(microsecond=0)
    assert cal.add_working_hours(now, 4) == plain.add_working_hours(now, 4)
    assert cal._timeline.first <= _to_us(now) < cal._timeline.last  # built for the present


@pytest.mark.parametrize("start", [datetime(1, 1, 1, tzinfo=UTC),
                                   datetime(9999, 12, 31, 20, tzinfo=UTC)])
def test_a_fresh_calendar_at_the_ends_of_time_is_a_400(start):
    """Building the timeline there overflows too: the answer stays the walk's 400."""
    with pytest.raises(BadInput) as err:
        WorkingCalendar.from_dict(OFFICE).add_working_hours(start, 1)
    assert err.value.field == "hours"


@pytest.mark.parametrize("start", [sh(2026, 3, 13, 12, 30), sh(2026, 3, 13, 14, 0),
                                   sh(2026, 3, 14, 10, 0), sh(2026, 3, 13, 9, 0)])
def test_hours_that_round_to_no_time_start_the_clock_where_the_walk_does(start):
    """1e-12 h is 0 µs: the deadline is where the clock starts, never before it."""
    timeline, walk = WorkingCalendar.from_dict(OFFICE), walking(OFFICE)
    assert timeline.add_working_hours(start, 1e-12) == walk.add_working_hours(start, 1e-12)
    assert timeline.add_working_hours(start, 1e-12) >= start


# -- properties --------------------------------------------------------------

starts = st.datetimes(min_value=datetime(2025, 12, 20), max_value=datetime(2027, 12, 31),
                      timezones=st.sampled_from([SH, UTC, NY]))
hours = st.floats(min_value=0.001, max_value=400, allow_nan=False, allow_infinity=False)


@given(starts, hours)
def test_between_inverts_add(cal, start, h):
    end = cal.add_working_hours(start, h)
    assert end.tzinfo == SH
    assert end > start
    assert abs(cal.working_hours_between(start, end) - h) < 1e-6
    assert abs(cal.working_hours_between(end, start) + h) < 1e-6
    assert cal.is_working_time(end - timedelta(microseconds=1))


@given(starts, hours, hours)
def test_add_is_additive(cal, start, a, b):
    stepwise = cal.add_working_hours(cal.add_working_hours(start, a), b)
    assert abs(stepwise - cal.add_working_hours(start, a + b)) <= timedelta(seconds=1)


@given(starts, hours, hours)
def test_add_is_monotonic_in_hours(cal, start, a, b):
    a, b = sorted((a, b))
    assert cal.add_working_hours(start, a) <= cal.add_working_hours(start, b)


@given(starts, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)), hours)
def test_add_is_monotonic_in_start(cal, start, delay, h):
    assert cal.add_working_hours(start, h) <= cal.add_working_hours(start + delay, h)


@given(starts, starts, starts)
def test_between_is_additive_and_antisymmetric(cal, a, b, c):
    ab, bc, ac = (cal.working_hours_between(*p) for p in ((a, b), (b, c), (a, c)))
    assert abs(ab + bc - ac) < 1e-9
    assert cal.working_hours_between(b, a) == -ab


@given(starts)
def test_next_working_start_is_where_the_clock_starts(cal, t):
    start = cal.next_working_start(t)
    assert start >= t and cal.is_working_time(start)
    assert cal.working_hours_between(t, start) == 0.0
    assert cal.add_working_hours(t, 0.5) == cal.add_working_hours(start, 0.5)


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(2025, 12, 25), max_value=datetime(2027, 12, 20)),
       st.integers(min_value=1, max_value=20 * 60))
def test_add_agrees_with_the_minute_oracle(cal, start, minutes):
    start = start.replace(second=0, microsecond=0)
    expected = oracle_add_minutes(start, minutes).replace(tzinfo=SH)
    assert cal.add_working_hours(start.replace(tzinfo=SH), minutes / 60) == expected


# -- case deadlines ------------------------------------------------------------

def test_deadlines_count_handling_from_the_report(cal):
    report = sh(2026, 3, 16, 16, 0)
    got = cal.deadlines(report, SANITATION)
    # sign: 1 h -> 17:00; handle: 1 + 4 = 5 h from the report -> 1.5 h Monday, 3.5 h Tuesday
    assert got == {"sign": sh(2026, 3, 16, 17, 0), "handle": sh(2026, 3, 17, 12, 0)}


def test_deadlines_of_a_weekend_report_start_on_monday(cal):
    got = cal.deadlines(sh(2026, 3, 14, 22, 0), SANITATION)
    assert got == {"sign": sh(2026, 3, 16, 9, 30), "handle": sh(2026, 3, 16, 15, 30)}


def test_verify_deadline_runs_from_the_reply(cal):
    # 2.5 h on Tuesday, then 5.5 h on Wednesday: 3.5 h to 12:00 and 2 h after lunch
    assert cal.verify_deadline(sh(2026, 3, 17, 15, 0), SANITATION) == sh(2026, 3, 18, 16, 0)


def test_deadlines_for_every_shipped_category(cal):
    report = sh(2026, 9, 30, 11, 0)
    for category in load_categories(ROOT / "geodata" / "categories.json").values():
        got = cal.deadlines(report, category)
        naive = report.replace(tzinfo=None)
        sign_minutes = round(category.sign_hours * 60)
        assert got == {  # by the minute walk, across the National Day holiday (1-7 Oct)
            "sign": oracle_add_minutes(naive, sign_minutes).replace(tzinfo=SH),
            "handle": oracle_add_minutes(naive, sign_minutes + round(
                category.handle_hours * 60)).replace(tzinfo=SH)}


def test_deadline_beyond_the_holiday_lists_is_logged_once(caplog):
    cal = WorkingCalendar.load(SHIPPED)
    with caplog.at_level(logging.WARNING, logger="gridmap.cases.calendar"):
        cal.deadlines(sh(2028, 3, 1, 9, 0), SANITATION)
        cal.deadlines(sh(2028, 3, 2, 9, 0), SANITATION)
    assert [r.getMessage() for r in caplog.records].count(
        "calendar has no holiday list for 2028; deadlines in it count plain weekdays") == 1


def test_category_without_limits_is_refused(cal):
    with pytest.raises(BadInput, match="sign_hours"):
        cal.deadlines(sh(2026, 3, 16, 9, 0), object())


def test_overdue():
    deadline = sh(2026, 3, 16, 17, 0)
    assert overdue(deadline + timedelta(seconds=1), deadline) is True
    assert overdue(deadline, deadline) is False
    assert overdue(datetime(2026, 3, 16, 8, 59, tzinfo=UTC), deadline) is False  # 16:59 in Beijing
    with pytest.raises(BadInput):
        overdue(datetime(2026, 3, 16, 18, 0), deadline)


@pytest.mark.parametrize("now, is_overdue, left", [
    (sh(2026, 3, 16, 16, 0), False, 1.0),
    (sh(2026, 3, 17, 9, 0), True, -1.0),      # 17:00-17:30 and 08:30-09:00
    (sh(2026, 3, 16, 18, 0), True, -0.5),
])
def test_overdue_status(cal, now, is_overdue, left):
    status = cal.overdue_status(now, datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    assert status == Overdue(sh(2026, 3, 16, 17, 0), is_overdue, pytest.approx(left))
    assert status.to_dict() == {"deadline": "2026-03-16T17:00:00+08:00", "overdue": is_overdue,
                                "working_hours_left": left}


# -- bad arguments ---------------------------------------------------------------

@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "1", True, None, MAX_HOURS + 1])
def test_bad_hours_are_refused(cal, bad):
    with pytest.raises(BadInput) as err:
        cal.add_working_hours(sh(2026, 3, 16, 9, 0), bad)
    assert err.value.field == "hours" and repr(bad) in str(err.value)


@pytest.mark.parametrize("call", [
    lambda c: c.add_working_hours(datetime(2026, 3, 16, 9, 0), 1),
    lambda c: c.working_hours_between(sh(2026, 3, 16), datetime(2026, 3, 17)),
    lambda c: c.is_working_time(datetime(2026, 3, 16, 9, 0)),
    lambda c: c.next_working_start("2026-03-16T09:00"),
    lambda c: c.deadlines(date(2026, 3, 16), SANITATION),
])
def test_naive_or_non_datetimes_are_refused(cal, call):
    with pytest.raises(BadInput, match="timezone-aware"):
        call(cal)


# -- validation of the calendar document -----------------------------------------

def mutated(**changes):
    doc = copy.deepcopy(SHIPPED_DOC)
    for key, value in changes.items():
        if value is KeyError:
            del doc[key]
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize("doc, field, shown", [
    (mutated(timezone="Mars/Olympus"), "timezone", "'Mars/Olympus'"),
    (mutated(timezone="Asia"), "timezone", "'Asia'"),
    (mutated(timezone=""), "timezone", "''"),
    (mutated(timezone="../etc/passwd"), "timezone", "'../etc/passwd'"),
    (mutated(timezone=8), "timezone", "8"),
    (mutated(working_days="mon-fri"), "working_days", "'mon-fri'"),
    (mutated(working_days=["mon", "funday"]), "working_days", "'funday'"),
    (mutated(working_days=["mon", "Monday"]), "working_days", "'Monday'"),
    (mutated(working_days=[1]), "working_days", "1"),
    (mutated(working_days=[]), "working_days", "[]"),
    (mutated(working_hours="08:30-12:00"), "working_hours", "'08:30-12:00'"),
    (mutated(working_hours=[]), "working_hours", "[]"),
    (mutated(working_hours=[["08:30"]]), "working_hours", "['08:30']"),
    (mutated(working_hours=[["12:00", "08:30"]]), "working_hours", "['12:00', '08:30']"),
    (mutated(working_hours=[["08:30", "08:30"]]), "working_hours", "['08:30', '08:30']"),
    (mutated(working_hours=[["08:60", "12:00"]]), "working_hours", "'08:60'"),
    (mutated(working_hours=[["noon", "13:00"]]), "working_hours", "'noon'"),
    (mutated(working_hours=[["08:30", "25:00"]]), "working_hours", "'25:00'"),
    (mutated(working_hours=[["24:00", "24:00"]]), "working_hours", "'24:00'"),
    (mutated(working_hours=[["08:30", "12:00"], ["11:00", "13:00"]]), "working_hours",
     "[['08:30', '12:00'], ['11:00', '13:00']]"),
    (mutated(holidays="2026-01-01"), "holidays", "'2026-01-01'"),
    (mutated(holidays=["2026-02-30"]), "holidays", "'2026-02-30'"),
    (mutated(holidays=["2026/01/01"]), "holidays", "'2026/01/01'"),
    (mutated(holidays=["20260101"]), "holidays", "'20260101'"),
    (mutated(holidays=[20260101]), "holidays", "20260101"),
    (mutated(holidays=["2026-01-01", "2026-01-01"]), "holidays", "'2026-01-01'"),
    (mutated(workdays=["2026-03-16"]), "workdays", "['2026-03-16']"),
    (mutated(workdays=["2026-02-15"]), "workdays", "['2026-02-15']"),
    (mutated(workdays=["2026-02-31"]), "workdays", "'2026-02-31'"),
    (mutated(years="2026"), "years", "'2026'"),
    (mutated(years={"26": {}}), "years", "'26'"),
    (mutated(years={"2026": {"provisional": "no"}}), "years.2026", "'provisional': 'no'"),
    (mutated(years={"2026": {"source": "x", "extra": 1}}), "years.2026", "'extra': 1"),
    (mutated(years={"2026": {"source": "x"}}), "years", "[2026]"),
    (mutated(holiday=["2026-01-01"]), "holiday", "['2026-01-01']"),
    (mutated(timezone=KeyError), "timezone", "timezone"),
    (mutated(working_hours=KeyError), "working_hours", "working_hours"),
])
def test_bad_calendar_documents_name_field_and_value(doc, field, shown):
    with pytest.raises(ConfigError) as err:
        WorkingCalendar.from_dict(doc)
    assert err.value.field == field
    assert field in str(err.value) and shown in str(err.value)


def test_a_calendar_document_must_be_an_object():
    with pytest.raises(ConfigError, match="JSON object"):
        WorkingCalendar.from_dict([OFFICE])


@pytest.mark.parametrize("kwargs, field", [
    ({"working_days": frozenset({7})}, "working_days"),
    ({"periods": ((50400, 63000), (30600, 43200))}, "working_hours"),
    ({"periods": ((30600, 90000),)}, "working_hours"),
    ({"holidays": frozenset({date(2026, 2, 14)}), "workdays": frozenset({date(2026, 2, 14)})}, "workdays"),
])
def test_the_constructor_checks_invariants_too(kwargs, field):
    args = {"timezone": "Asia/Shanghai", "working_days": frozenset(range(5)),
            "periods": ((30600, 43200), (50400, 63000))} | kwargs
    with pytest.raises(ConfigError) as err:
        WorkingCalendar(**args)
    assert err.value.field == field


def test_periods_may_be_listed_in_any_order_and_touch():
    cal = WorkingCalendar.from_dict(OFFICE | {"working_hours": [["14:00", "17:30"], ["08:30", "12:00"],
                                                                ["12:00", "12:30"]]})
    assert cal.periods == ((30600, 43200), (43200, 45000), (50400, 63000))
    assert cal.add_working_hours(sh(2026, 3, 16, 11, 0), 1.5) == sh(2026, 3, 16, 12, 30)


def test_load_reports_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="calendar file unreadable.*missing.json"):
        WorkingCalendar.load(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.json"):
        WorkingCalendar.load(tmp_path / "broken.json")


def test_load_names_the_file_and_keeps_the_field(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(mutated(timezone="Mars/Olympus")), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        WorkingCalendar.load(path)
    assert str(path) in str(err.value) and err.value.field == "timezone"


# -- the shipped calendar ----------------------------------------------------------

def test_shipped_calendar_is_the_documented_default(cal):
    assert cal.timezone == "Asia/Shanghai" and cal.tz == SH
    assert cal.working_days == frozenset(range(5))
    assert cal.to_dict()["working_hours"] == [["08:30", "12:00"], ["14:00", "17:30"]]
    assert cal.covered_years == {2026, 2027}
    assert cal.provisional_years == {2027}
    assert [(year, source[:6]) for year, source, _ in cal.years] == [(2026, "国务院办公厅"),
                                                                   (2027, "暂定推算，非")]
    assert "State Council" in SHIPPED_DOC["note"]


def test_shipped_2026_lists_match_the_state_council_notice(cal):
    spans = [("01-01", 3), ("02-15", 9), ("04-04", 3), ("05-01", 5), ("06-19", 3), ("09-25", 3), ("10-01", 7)]
    expected = {date.fromisoformat(f"2026-{first}") + timedelta(days=i) for first, n in spans for i in range(n)}
    assert {d for d in cal.holidays if d.year == 2026} == expected
    assert {d for d in cal.workdays if d.year == 2026} == {
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
        date(2026, 9, 20), date(2026, 10, 10)}


def test_loading_warns_about_provisional_years(caplog):
    with caplog.at_level(logging.WARNING, logger="gridmap.cases.calendar"):
        WorkingCalendar.load(SHIPPED)
    assert any("[2027] are provisional" in r.getMessage() for r in caplog.records)


def test_to_dict_round_trips(cal):
    again = WorkingCalendar.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    assert again.add_working_hours(sh(2026, 2, 13, 17, 0), 1) == sh(2026, 2, 14, 9, 0)


# -- what each refusal says (Chinese, then English) ---------------------------------

def refusal(field, shown, zh, en):
    return f"日历字段 {field} 的值 {shown} 无效，应为{zh} / calendar field {field}: got {shown}, expected {en}"


@pytest.mark.parametrize("doc, message", [
    ([OFFICE], refusal("calendar", repr([OFFICE]), "JSON 对象", "a JSON object")),
    (mutated(holiday=["2026-01-01"]), refusal(
        "holiday", "['2026-01-01']", "已知字段之一 " + str(
            ("note", "timezone", "working_days", "working_hours", "years", "holidays", "workdays")),
        "one of the fields " + str(
            ("note", "timezone", "working_days", "working_hours", "years", "holidays", "workdays")))),
    (mutated(working_hours=KeyError), "日历缺少字段 working_hours / calendar field working_hours is missing"),
    (mutated(timezone=8), refusal("timezone", "8", "时区名字符串", "a zone name string")),
    (mutated(timezone="Mars/Olympus"), refusal("timezone", "'Mars/Olympus'", "IANA 时区名（如 Asia/Shanghai）",
                                               "an IANA zone name such as 'Asia/Shanghai'")),
    (mutated(working_days="mon-fri"), refusal("working_days", "'mon-fri'", "星期名列表",
                                              'a list like ["mon", "tue"]')),
    (mutated(working_days=["mon", "funday"]), refusal(
        "working_days", "'funday'", "mon…sun 或 monday…sunday", "one of mon…sun or monday…sunday")),
    (mutated(working_days=["mon", "monday"]), refusal("working_days", "'monday'", "不重复的星期名",
                                                      "weekday names listed once")),
    (mutated(working_days=[]), refusal("working_days", "[]", "非空的星期列表",
                                       "a non-empty list of weekday names")),
    (mutated(working_hours="08:30-12:00"), refusal("working_hours", "'08:30-12:00'", "时段列表",
                                                   'a list like [["08:30", "12:00"]]')),
    (mutated(working_hours=[["08:30"]]), refusal("working_hours", "['08:30']", "[开始, 结束] 时段",
                                                 'a period ["HH:MM", "HH:MM"]')),
    (mutated(working_hours=[["noon", "13:00"]]), refusal(
        "working_hours", "'noon'", "HH:MM 时刻（结束可为 24:00）", "a time HH:MM (an end may be 24:00)")),
    (mutated(working_hours=[[830, "12:00"]]), refusal(
        "working_hours", "830", "HH:MM 时刻（结束可为 24:00）", "a time HH:MM (an end may be 24:00)")),
    (mutated(working_hours=[["24:00", "24:00"]]), refusal(
        "working_hours", "'24:00'", "HH:MM 时刻（结束可为 24:00）", "a time HH:MM (an end may be 24:00)")),
    (mutated(working_hours=[["24:30", "24:30"]]), refusal(
        "working_hours", "'24:30'", "HH:MM 时刻（结束可为 24:00）", "a time HH:MM (an end may be 24:00)")),
    (mutated(working_hours=[["25:00", "26:00"]]), refusal(
        "working_hours", "'25:00'", "HH:MM 时刻（结束可为 24:00）", "a time HH:MM (an end may be 24:00)")),
    (mutated(working_hours=[["08:30", "25:00"]]), refusal(
        "working_hours", "'25:00'", "HH:MM 时刻（结束可为 24:00）", "a time HH:MM (an end may be 24:00)")),
    (mutated(working_hours=[["08:30", "24:30"]]), refusal(
        "working_hours", "'24:30'", "HH:MM 时刻（结束可为 24:00）", "a time HH:MM (an end may be 24:00)")),
    (mutated(working_hours=[]), refusal("working_hours", "[]", "非空的时段列表",
                                        'a non-empty list like [["08:30", "12:00"]]')),
    (mutated(working_hours=[["12:00", "08:30"]]), refusal(
        "working_hours", "['12:00', '08:30']", "开始早于结束、在 00:00-24:00 内的时段",
        "a period whose start is before its end, within 00:00-24:00")),
    (mutated(working_hours=[["08:30", "12:00"], ["11:00", "13:00"]]), refusal(
        "working_hours", "[['08:30', '12:00'], ['11:00', '13:00']]", "按时间先后排列、互不重叠的时段",
        "periods in order that do not overlap")),
    (mutated(holidays="2026-01-01"), refusal("holidays", "'2026-01-01'", "日期列表",
                                             'a list of dates "YYYY-MM-DD"')),
    (mutated(holidays=["2026-02-30"]), refusal("holidays", "'2026-02-30'", "YYYY-MM-DD 格式的有效日期",
                                               'a real date "YYYY-MM-DD"')),
    (mutated(holidays=["2026-01-01", "2026-01-01"]), refusal("holidays", "'2026-01-01'", "不重复的日期",
                                                             "dates listed once")),
    (mutated(workdays=["2026-02-15"]), refusal("workdays", "['2026-02-15']", "不同时列为放假日的日期",
                                               "dates that are not also listed in holidays")),
    (mutated(workdays=["2026-03-16"]), refusal(
        "workdays", "['2026-03-16']", "本来不上班的日期（调休上班日）",
        "dates that are not working weekdays already (make-up days)")),
    (mutated(holidays=["2029-01-01", "2028-01-03"]), refusal(
        "years", "[2026, 2027]", "包含 2028-01-03 所在年份", "a list covering the year of 2028-01-03")),
    (mutated(years="2026"), refusal("years", "'2026'", "以年份为键的对象",
                                    'an object like {"2026": {"source": …, "provisional": false}}')),
    (mutated(years={"26": {}}), refusal("years", "'26'", "四位数年份", 'a four-digit year such as "2026"')),
    (mutated(years={"2026": {"provisional": "no"}}), refusal(
        "years.2026", "{'provisional': 'no'}", "{source: 文本, provisional: 布尔}",
        "{source: text, provisional: true or false}")),
])
def test_each_refusal_of_a_calendar_document_says_what_is_expected(doc, message):
    with pytest.raises(ConfigError) as err:
        WorkingCalendar.from_dict(doc)
    assert str(err.value) == message


@pytest.mark.parametrize("end, accepted", [(86400, True), (86401, False)])
def test_a_period_may_end_at_midnight_and_no_later(end, accepted):
    args = {"timezone": "Asia/Shanghai", "working_days": frozenset(range(5)),
            "periods": ((30600, end),)}
    if accepted:
        assert WorkingCalendar(**args).to_dict()["working_hours"] == [["08:30", "24:00"]]
    else:
        with pytest.raises(ConfigError) as err:
            WorkingCalendar(**args)
        assert err.value.field == "working_hours" and "['08:30', '24:00']" in str(err.value)


@pytest.mark.parametrize("call, name", [
    (lambda c: c.is_working_time(datetime(2026, 3, 16, 9, 0)), "t"),
    (lambda c: c.next_working_start(datetime(2026, 3, 16, 9, 0)), "t"),
    (lambda c: c.working_hours_between(datetime(2026, 3, 16), sh(2026, 3, 17)), "a"),
    (lambda c: c.working_hours_between(sh(2026, 3, 16), datetime(2026, 3, 17)), "b"),
    (lambda c: c.add_working_hours("2026-03-16T09:00", 1), "start"),
    (lambda c: overdue(datetime(2026, 3, 16), sh(2026, 3, 16)), "now"),
    (lambda c: overdue(sh(2026, 3, 16), datetime(2026, 3, 16)), "deadline"),
])
def test_a_naive_time_is_refused_naming_the_argument(cal, call, name):
    with pytest.raises(BadInput) as err:
        call(cal)
    assert err.value.field == name
    assert str(err.value).startswith(f"{name} 须为带时区的时间，收到 ")
    assert f" / {name} must be a timezone-aware datetime, got " in str(err.value)


def test_a_category_without_limits_is_named(cal):
    with pytest.raises(BadInput) as err:
        cal.deadlines(sh(2026, 3, 16, 9, 0), "06")
    assert err.value.field == "category"
    assert str(err.value) == "类别 '06' 缺少 sign_hours / category '06' has no sign_hours"


def test_loading_names_the_provisional_years_exactly(tmp_path, caplog):
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps(SHIPPED_DOC, ensure_ascii=False), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="gridmap.cases.calendar"):
        WorkingCalendar.load(path)
    assert caplog.messages == [f"{path}: holiday lists for [2027] are provisional; update them "
                               "from the State Council notice"]


def test_a_year_entry_may_leave_out_its_source_and_provisional_flag():
    cal = WorkingCalendar.from_dict(OFFICE | {"years": {"2026": {}, "2027": {"provisional": True}}})
    assert cal.years == ((2026, "", False), (2027, "", True))
    assert cal.provisional_years == {2027}


def test_a_holiday_stretch_longer_than_the_timeline_is_walked_past():
    days = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(200)]
    cal = WorkingCalendar.from_dict(OFFICE | {"holidays": days, "years": {"2026": {}}})
    # 1 Jan - 19 Jul 2026 off: the first working day after is Monday 20 July
    assert cal.add_working_hours(sh(2026, 1, 1, 9, 0), 1) == sh(2026, 7, 20, 9, 30)
    assert cal.working_hours_between(sh(2026, 1, 1), sh(2026, 7, 20, 12, 0)) == 3.5


def test_a_deadline_within_the_timeline_is_found_without_walking_the_calendar(monkeypatch):
    cal = WorkingCalendar.from_dict(OFFICE)
    now = datetime.now(UTC).astimezone(SH).replace(microsecond=0)
    first = cal.add_working_hours(now, 1)  # builds the timeline from the day before now

    def no_walk(self, t):
        raise AssertionError("walked the calendar")

    monkeypatch.setattr(WorkingCalendar, "_spans", no_walk)
    assert cal.add_working_hours(now, 1) == first
    assert cal.deadlines(now, SANITATION)["sign"] == first


def test_no_working_time_left_is_plus_zero_also_past_the_deadline(cal):
    status = cal.overdue_status(sh(2026, 3, 16, 18, 0), sh(2026, 3, 16, 17, 30))
    assert status.is_overdue and status.working_hours_left == 0.0
    assert json.dumps(status.to_dict()["working_hours_left"]) == "0.0"


def test_hours_left_are_given_to_the_hundredth(cal):
    status = cal.overdue_status(sh(2026, 3, 16, 16, 40), sh(2026, 3, 16, 17, 0))
    assert status.to_dict()["working_hours_left"] == 0.33


@pytest.mark.parametrize("call", ["deadlines", "verify_deadline"])
def test_both_ends_of_a_deadline_are_checked_against_the_holiday_lists(call, caplog):
    cal = WorkingCalendar.load(SHIPPED)  # lists for 2026 and 2027
    with caplog.at_level(logging.WARNING, logger="gridmap.cases.calendar"):
        getattr(cal, call)(sh(2025, 12, 31, 17, 0), SANITATION)  # reported in 2025, due in 2026
        getattr(cal, call)(sh(2027, 12, 31, 17, 0), SANITATION)  # reported in 2027, due in 2028
    assert [r.getMessage() for r in caplog.records if "no holiday list" in r.getMessage()] == [
        f"calendar has no holiday list for {year}; deadlines in it count plain weekdays"
        for year in (2025, 2028)]


def test_the_year_of_a_deadline_is_the_calendar_s_not_the_machine_s(monkeypatch, caplog):
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        cal = WorkingCalendar.from_dict(OFFICE | {"years": {"2028": {}}})
        with caplog.at_level(logging.WARNING, logger="gridmap.cases.calendar"):
            cal.deadlines(datetime(2027, 12, 31, 20, 0, tzinfo=UTC), SANITATION)  # 1 Jan 2028 in Beijing
        assert caplog.records == []
    finally:
        monkeypatch.undo()
        time.tzset()
