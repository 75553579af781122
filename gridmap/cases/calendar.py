"""Working calendar and deadline arithmetic in working hours (from ``calendar.json``).

Case time limits are counted in working hours: the clock runs only inside
the working periods of working days. A working day is a local date whose
weekday is in ``working_days`` and that is not in ``holidays``, or a date
listed in ``workdays`` (调休 make-up days on weekends). Periods are local
wall-clock times; working time is the real time that passes inside them, so
a period that spans a daylight-saving change counts the hours that really
elapse (Asia/Shanghai has no DST, but nothing here assumes that). Instants
are handled as integer microseconds since the epoch, so results are exact.

Deadlines of a case (see ``deadlines``): both clocks start at the report.
The sign deadline is ``sign_hours`` after it; the handle deadline is
``sign_hours + handle_hours`` after it, not ``handle_hours`` after the
actual sign-for, so a slow sign-for eats into handling time and the whole
case has one fixed deadline from the start. The verify deadline runs from
the handler's reply (``verify_deadline``).
"""

import bisect
import json
import logging
import math
import numbers
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from gridmap.errors import BadInput, ConfigError, Msg

log = logging.getLogger(__name__)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
KEYS = ("note", "timezone", "working_days", "working_hours", "years", "holidays", "workdays")
REQUIRED = ("timezone", "working_days", "working_hours")
MAX_HOURS = 10_000  # about five years of office hours; guards against runaway loops
US_PER_HOUR = 3_600_000_000
TIMELINE_DAYS = 120  # the working spans kept ready for deadline lookups, from yesterday on
SPAN_TABLE_DAYS = 400  # working hours between two times: spans summed once over this many days
SPAN_TABLE_MAX = 4000  # ... at most (a longer stretch is walked)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)
_DAY_US = 86_400_000_000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def _bad(field_name, value, expected):
    """A calendar field's bad value; ``expected`` (a :class:`Msg`) says what is allowed."""
    return ConfigError("error.calendar.bad_field", value=repr(value), expected=expected,
                       field=field_name)


def _hhmm(seconds):
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days and hours of one community, with deadline arithmetic.

    Build it with ``from_dict`` or ``load``; the constructor checks the
    invariants again, so a calendar that exists is a valid one.

    Parameters
    ----------
    timezone : str
        IANA zone name of the local wall clock, e.g. ``"Asia/Shanghai"``.
    working_days : frozenset of int
        Working weekdays, 0 = Monday … 6 = Sunday.
    periods : tuple of (int, int)
        Working periods of a working day, seconds after local midnight
        (end at most 86400), in order and not overlapping.
    holidays, workdays : frozenset of datetime.date
        Dates off, and make-up working dates that are not working weekdays.
    years : tuple of (int, str, bool)
        ``(year, source, provisional)`` for each year the lists cover.

    Examples
    --------
    >>> cal = WorkingCalendar.from_dict({"timezone": "Asia/Shanghai",
    ...     "working_days": ["mon", "tue", "wed", "thu", "fri"],
    ...     "working_hours": [["08:30", "12:00"], ["14:00", "17:30"]]})
    >>> friday = datetime(2026, 3, 13, 16, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    >>> cal.add_working_hours(friday, 4).isoformat()
    '2026-03-16T11:00:00+08:00'
    """

    timezone: str
    working_days: frozenset
    periods: tuple
    holidays: frozenset = frozenset()
    workdays: frozenset = frozenset()
    years: tuple = ()
    _tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _cache: dict = field(init=False, repr=False, compare=False)
    _warned: set = field(init=False, repr=False, compare=False)
    _covered: frozenset = field(init=False, repr=False, compare=False)
    _timeline: object = field(init=False, repr=False, compare=False)
    _span_table: object = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        try:
            tz = ZoneInfo(self.timezone)
        except (KeyError, ValueError, TypeError, OSError):  # ZoneInfoNotFoundError is a KeyError
            raise _bad("timezone", self.timezone,
                       Msg("error.calendar.expect.zone_name")) from None
        days = sorted(self.working_days)
        if not days or any(d not in range(7) for d in days):
            raise _bad("working_days", days, Msg("error.calendar.expect.weekdays"))
        if not self.periods:
            raise _bad("working_hours", [], Msg("error.calendar.expect.periods"))
        previous = None
        for start, end in self.periods:
            shown = [_hhmm(start), _hhmm(end)]
            if not 0 <= start < end <= 86400:
                raise _bad("working_hours", shown, Msg("error.calendar.expect.period_in_day"))
            if previous is not None and start < previous[1]:
                raise _bad("working_hours", [[_hhmm(previous[0]), _hhmm(previous[1])], shown],
                           Msg("error.calendar.expect.periods_in_order"))
            previous = (start, end)
        both = sorted(self.holidays & self.workdays)
        if both:
            raise _bad("workdays", [d.isoformat() for d in both],
                       Msg("error.calendar.expect.not_holidays"))
        needless = sorted(d for d in self.workdays if d.weekday() in self.working_days)
        if needless:
            raise _bad("workdays", [d.isoformat() for d in needless],
                       Msg("error.calendar.expect.makeup_days"))
        covered = {year for year, _, _ in self.years}
        if covered:
            stray = sorted(d for d in self.holidays | self.workdays if d.year not in covered)
            if stray:
                raise _bad("years", sorted(covered),
                           Msg("error.calendar.expect.year_covered", day=stray[0].isoformat()))
        object.__setattr__(self, "_tz", tz)
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_warned", set())
        object.__setattr__(self, "_covered", frozenset(covered))
        object.__setattr__(self, "_timeline", None)
        object.__setattr__(self, "_span_table", None)

    # -- building ---------------------------------------------------------

    @classmethod
    def from_dict(cls, doc):
        """Check a calendar document (the JSON shape above) and build the calendar.

        Raises
        ------
        ConfigError
            Naming the field and the value at fault.
        """
        if not isinstance(doc, dict):
            raise _bad("calendar", doc, Msg("error.calendar.expect.object"))
        unknown = sorted(set(doc) - set(KEYS))
        if unknown:
            raise _bad(unknown[0], doc[unknown[0]], Msg("error.calendar.expect.known_field", keys=repr(KEYS)))
        missing = [key for key in REQUIRED if key not in doc]
        if missing:
            raise ConfigError("error.calendar.missing_field", field=missing[0])
        if not isinstance(doc["timezone"], str):
            raise _bad("timezone", doc["timezone"], Msg("error.calendar.expect.zone_string"))
        return cls(doc["timezone"], _parse_weekdays(doc["working_days"]),
                   _parse_periods(doc["working_hours"]),
                   _parse_dates("holidays", doc.get("holidays", [])),
                   _parse_dates("workdays", doc.get("workdays", [])),
                   _parse_years(doc.get("years", {})))

    @classmethod
    def load(cls, path):
        """Read and check ``calendar.json``; a year marked provisional is logged as a warning."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError("error.calendar.unreadable", path=path, problem=str(exc)) from exc
        try:
            calendar = cls.from_dict(doc)
        except ConfigError as exc:
            raise ConfigError("error.file_problem", field=exc.field, path=str(path),
                              problem=exc.msg) from exc
        if calendar.provisional_years:
            log.warning("%s: holiday lists for %s are provisional; update them from the State "
                        "Council notice", path, sorted(calendar.provisional_years))
        return calendar

    def to_dict(self):
        """The calendar as a JSON-ready document that ``from_dict`` accepts."""
        return {"timezone": self.timezone,
                "working_days": [WEEKDAYS[d][:3] for d in sorted(self.working_days)],
                "working_hours": [[_hhmm(s), _hhmm(e)] for s, e in self.periods],
                "years": {str(y): {"source": s, "provisional": p} for y, s, p in self.years},
                "holidays": [d.isoformat() for d in sorted(self.holidays)],
                "workdays": [d.isoformat() for d in sorted(self.workdays)]}

    @property
    def tz(self):
        return self._tz

    @property
    def covered_years(self):
        return frozenset(year for year, _, _ in self.years)

    @property
    def provisional_years(self):
        return frozenset(year for year, _, provisional in self.years if provisional)

    # -- questions --------------------------------------------------------

    def is_working_day(self, day):
        """Whether the local date ``day`` has working periods."""
        if day in self.workdays:
            return True
        return day.weekday() in self.working_days and day not in self.holidays

    def is_working_time(self, t):
        """Whether the clock runs at instant ``t`` (a period's start counts, its end does not)."""
        t = _to_us(_aware(t, "t"))
        start, _ = next(self._spans(t))
        return start <= t

    def next_working_start(self, t):
        """The instant from which the clock runs: ``t`` itself in working time, else the next period's start."""
        t = _to_us(_aware(t, "t"))
        start, _ = next(self._spans(t))
        return self._from_us(max(start, t))

    def add_working_hours(self, start, hours):
        """The instant at which ``hours`` working hours have passed after ``start``.

        Parameters
        ----------
        start : datetime
            Timezone-aware, in any zone; outside working time the clock starts
            at the next working period.
        hours : float
            Working hours, > 0 and at most ``MAX_HOURS``; fractions are exact
            to the microsecond.

        Returns
        -------
        datetime
            In the calendar's zone. A limit that runs out exactly at the end
            of a period is due at that end (12:00, not 14:00).

        Raises
        ------
        BadInput
            A naive ``start`` or hours that are not a positive finite number.
        """
        return self._after(start, hours)[0]

    def _after(self, start, *hours):
        """``add_working_hours(start, h)`` for each of ``hours`` (ascending), in one walk
        (a lookup in the timeline when it spans them)."""
        t = _to_us(_aware(start, "start"))
        needs = [_hours_to_us(h) for h in hours]
        if needs != sorted(needs):
            raise ValueError(f"hours must ascend, got {hours}")
        try:
            found = self._timeline_after(t, needs)
            if found is not None:
                return found
            found, counted = [], 0  # working time from t to the start of the span at hand
            for a, b in self._spans(t):
                a = max(a, t)
                while needs[len(found)] - counted <= b - a:
                    found.append(self._from_us(a + needs[len(found)] - counted))
                    if len(found) == len(needs):
                        return found
                counted += b - a
        except OverflowError:
            raise BadInput("error.calendar.past_9999", hours=repr(hours[-1]), start=start.isoformat(),
                           field="hours") from None

    def _timeline_after(self, t, needs):
        """What the walk of ``_after`` finds, by bisection in the :class:`_Timeline`;
        None if ``t`` or a deadline lies outside it (the walk answers then).

        The deadline ``n`` after ``t`` is in the first span whose ``cum_end``
        reaches the working time before ``t`` plus ``n``: at its end if exactly
        (12:00, not 14:00, as in the walk). A span of the day before ``t`` that
        is still running starts, for the walk, at ``t`` either way, so where the
        timeline begins makes no difference.
        """
        timeline = self._timeline
        if timeline is None or not timeline.first <= t < timeline.last:
            if timeline is not None and t < timeline.first and (
                    timeline.first <= _to_us(datetime.now(UTC))):
                return None  # time runs forward: keep the timeline for the present
            # (one built for a future instant, e.g. from a skewed clock, gives way)
            timeline = self._build_timeline(t)
            if timeline is None:
                return None
        starts, cum, cum_end = timeline.starts, timeline.cum, timeline.cum_end
        i = bisect.bisect_right(timeline.ends, t)  # the first span that ends after t
        before = cum[i] + max(0, t - starts[i])
        found = []
        for need in needs:
            target = before + need
            j = bisect.bisect_left(cum_end, target, lo=i)  # lo: a need rounded to 0 µs
            if j == len(cum_end):
                return None
            found.append(self._from_us(starts[j] + target - cum[j]))
        return found

    def _build_timeline(self, t):
        """The :class:`_Timeline` from the day before ``t``, kept for the next
        lookups; None where the spans run past year 9999."""
        timeline = self._make_timeline(t, TIMELINE_DAYS)
        if timeline is not None:
            object.__setattr__(self, "_timeline", timeline)
        return timeline

    def _make_timeline(self, t, days):
        """The :class:`_Timeline` of ``days`` days from the day before ``t``; None where
        the spans run past year 9999."""
        starts, ends, cum, cum_end, total = [], [], [], [], 0
        try:
            day = self._local_date(t) - _DAY
            first = _to_us(datetime(day.year, day.month, day.day, tzinfo=self._tz))
            end = first + days * _DAY_US
            for a, b in self._spans(first):
                if a >= end:
                    break
                starts.append(a)
                ends.append(b)
                cum.append(total)
                total += b - a
                cum_end.append(total)
        except OverflowError:
            return None
        # lookups from t up to a day before the last span ends (so one always follows)
        last = min(end, ends[-1]) - _DAY_US if starts else first
        if not first <= t < last:
            return None
        return _Timeline(first, last, starts, ends, cum, cum_end)

    def working_hours_between(self, a, b):
        """Working hours from ``a`` to ``b`` (negative if ``b`` is before ``a``).

        Consistent with ``add_working_hours``:
        ``working_hours_between(s, add_working_hours(s, h)) == h``.
        """
        ta, tb = _to_us(_aware(a, "a")), _to_us(_aware(b, "b"))
        sign = 1
        if tb < ta:
            ta, tb, sign = tb, ta, -1
        total = 0
        if ta < tb:
            table = self._spans_over(ta, tb)
            if table is not None:  # the same spans, summed once: two bisections
                total = table.before(tb) - table.before(ta)
            else:
                for start, end in self._spans(ta):
                    if start >= tb:
                        break
                    total += min(end, tb) - max(start, ta)
        return sign * total / US_PER_HOUR if total else 0.0

    def _spans_over(self, ta, tb):
        """A :class:`_Timeline` covering ``[ta, tb]``: the one kept, or one made from
        a day before ``ta`` (at least :data:`SPAN_TABLE_DAYS` days, so times near
        each other share it) and kept; None over more than :data:`SPAN_TABLE_MAX`
        days (the walk answers then)."""
        table = self._span_table
        if table is not None and table.first <= ta and tb < table.last:
            return table
        days = (tb - ta) // _DAY_US + 30  # room for a long holiday at the end
        if days > SPAN_TABLE_MAX:
            return None
        table = self._make_timeline(ta, max(days, SPAN_TABLE_DAYS))
        if table is None or tb >= table.last:
            return None
        object.__setattr__(self, "_span_table", table)
        return table

    # -- case deadlines ---------------------------------------------------

    def deadlines(self, start, category):
        """Sign and handle deadlines of a case reported at ``start``.

        Both are measured from the report: ``{"sign": start + sign_hours,
        "handle": start + sign_hours + handle_hours}`` in working hours, so
        time spent before signing for the case is taken from handling time.
        ``category`` is a ``gridmap.cases.categories.Category``.
        """
        sign, handle = _limit(category, "sign"), _limit(category, "handle")
        signed, handled = self._after(start, sign, sign + handle)
        self._warn_if_uncovered(start, handled)
        return {"sign": signed, "handle": handled}

    def verify_deadline(self, replied_at, category):
        """Verify deadline: ``verify_hours`` working hours after the handler's reply."""
        deadline = self.add_working_hours(replied_at, _limit(category, "verify"))
        self._warn_if_uncovered(replied_at, deadline)
        return deadline

    def overdue_status(self, now, deadline):
        """An ``Overdue`` summary of ``deadline`` at ``now``."""
        return Overdue(_aware(deadline, "deadline").astimezone(self._tz), overdue(now, deadline),
                       self.working_hours_between(now, deadline))

    # -- internals --------------------------------------------------------

    def _spans(self, t):
        """Working spans ``(start_us, end_us)`` in time order, from the first that ends after ``t``.

        Endless; periods of successive days are clipped so they never overlap,
        even where a DST change maps wall-clock times out of order.
        """
        day = self._local_date(t) - _DAY
        floor = -(1 << 62)
        while True:
            for a, b in self._day_periods(day):
                a = max(a, floor)
                if b > a:
                    floor = b
                    if b > t:
                        yield a, b
            day += _DAY

    def _day_periods(self, day):
        spans = self._cache.get(day)
        if spans is None:
            spans = ()
            if self.is_working_day(day):
                midnight = datetime(day.year, day.month, day.day, tzinfo=self._tz)
                # aware + timedelta is wall-clock arithmetic; _to_us then applies the offset
                spans = tuple((_to_us(midnight + timedelta(seconds=s)), _to_us(midnight + timedelta(seconds=e)))
                              for s, e in self.periods)
            if len(self._cache) >= 20_000:
                self._cache.clear()
            self._cache[day] = spans
        return spans

    def _local_date(self, t):
        return (_EPOCH + t * _US).astimezone(self._tz).date()

    def _from_us(self, t):
        return (_EPOCH + t * _US).astimezone(self._tz)

    def _warn_if_uncovered(self, *instants):
        covered = self._covered
        for instant in instants:
            year = instant.astimezone(self._tz).year
            if covered and year not in covered and year not in self._warned:
                self._warned.add(year)
                log.warning("calendar has no holiday list for %s; deadlines in it count plain weekdays", year)


class _Timeline(NamedTuple):
    """The working spans from one instant on, for deadline lookups by bisection.

    ``starts``/``ends`` as ``_spans`` yields them from ``first``; ``cum[i]`` is the
    working time before span ``i``, ``cum_end[i]`` up to its end. Lookups start
    at instants in ``[first, last)``.
    """

    first: int
    last: int
    starts: list
    ends: list
    cum: list
    cum_end: list

    def before(self, t):
        """Working time (µs) from the timeline's start to ``t`` (in ``[first, last)``)."""
        i = bisect.bisect_right(self.ends, t)  # the first span that ends after t
        return self.cum[i] + max(0, t - self.starts[i])


@dataclass(frozen=True)
class Overdue:
    """Where a case stands against one deadline.

    ``working_hours_left`` is negative once past the deadline; right after a
    deadline at the end of a working day it is 0 while ``is_overdue`` is True.
    """

    deadline: datetime
    is_overdue: bool
    working_hours_left: float

    def to_dict(self):
        return {"deadline": self.deadline.isoformat(), "overdue": self.is_overdue,
                "working_hours_left": round(self.working_hours_left, 2)}


def overdue(now, deadline):
    """Whether ``now`` is past ``deadline`` (both aware; at the deadline itself it is on time)."""
    return _aware(now, "now") > _aware(deadline, "deadline")


# -- parsing and checking helpers -----------------------------------------

def _parse_weekdays(value):
    if not isinstance(value, list):
        raise _bad("working_days", value, Msg("error.calendar.expect.weekday_list"))
    days = []
    for name in value:
        key = name.strip().lower() if isinstance(name, str) else None
        matches = [i for i, full in enumerate(WEEKDAYS) if key in (full, full[:3])]
        if not matches:
            raise _bad("working_days", name, Msg("error.calendar.expect.weekday_name"))
        if matches[0] in days:
            raise _bad("working_days", name, Msg("error.calendar.expect.weekdays_once"))
        days.append(matches[0])
    return frozenset(days)


def _parse_time(value, *, end):
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match:
        hour, minute = int(match[1]), int(match[2])
        if (hour < 24 and minute < 60) or (end and hour == 24 and minute == 0):
            return hour * 3600 + minute * 60
    raise _bad("working_hours", value, Msg("error.calendar.expect.time"))


def _parse_periods(value):
    if not isinstance(value, list):
        raise _bad("working_hours", value, Msg("error.calendar.expect.period_list"))
    periods = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise _bad("working_hours", pair, Msg("error.calendar.expect.period"))
        periods.append((_parse_time(pair[0], end=False), _parse_time(pair[1], end=True)))
    return tuple(sorted(periods))


def _parse_dates(field_name, value):
    if not isinstance(value, list):
        raise _bad(field_name, value, Msg("error.calendar.expect.date_list"))
    dates = set()
    for text in value:
        try:
            if not (isinstance(text, str) and _DATE.fullmatch(text)):
                raise ValueError
            day = date.fromisoformat(text)
        except ValueError:
            raise _bad(field_name, text, Msg("error.calendar.expect.date")) from None
        if day in dates:
            raise _bad(field_name, text, Msg("error.calendar.expect.dates_once"))
        dates.add(day)
    return frozenset(dates)


def _parse_years(value):
    if not isinstance(value, dict):
        raise _bad("years", value, Msg("error.calendar.expect.years_object"))
    years = []
    for key, entry in value.items():
        if not (isinstance(key, str) and re.fullmatch(r"[1-9][0-9]{3}", key)):
            raise _bad("years", key, Msg("error.calendar.expect.year"))
        if not (isinstance(entry, dict) and set(entry) <= {"source", "provisional"}
                and isinstance(entry.get("source", ""), str) and isinstance(entry.get("provisional", False), bool)):
            raise _bad(f"years.{key}", entry, Msg("error.calendar.expect.year_entry"))
        years.append((int(key), entry.get("source", ""), entry.get("provisional", False)))
    return tuple(sorted(years))


def _aware(value, name):
    if not (isinstance(value, datetime) and value.utcoffset() is not None):
        raise BadInput("error.calendar.not_aware", value=repr(value)[:80], field=name)
    return value


def _to_us(t):
    return (t - _EPOCH) // _US


def _hours_to_us(hours):
    if isinstance(hours, bool) or not isinstance(hours, numbers.Real) \
            or not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise BadInput("error.calendar.bad_hours", high=MAX_HOURS, value=repr(hours)[:80],
                       field="hours")
    return round(float(hours) * US_PER_HOUR)


def _limit(category, name):
    try:
        return getattr(category, f"{name}_hours")
    except AttributeError:
        raise BadInput("error.calendar.category_without_limit", category=repr(category)[:80],
                       name=name, field="category") from None
