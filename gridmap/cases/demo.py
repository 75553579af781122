"""A demo case history: deterministic, realistic cases for a community's grids.

:func:`demo_cases` makes ``count`` cases reported over the ``months`` before
``end``, in the order they were reported. The same arguments give the same
cases, byte for byte. Every case is made the way live ones are: the report
checked by :func:`~gridmap.cases.intake.check_report`, its point routed by
the community's router, the Feature built by
:meth:`~gridmap.cases.service.CaseService.new_case` and every later step
applied by :meth:`~gridmap.cases.service.CaseService.transition` (the
workflow's rules, the calendar's deadlines), at times no later than ``end``.

What makes it look lived in:

- **hot spots**: about half the reports come from a few places per category
  (a market, school gates, old estates…), scattered around each by tens of
  metres; the rest anywhere inside the grids;
- **seasons**: drains and emergencies in the rainy season (May–September),
  fire safety and the elderly in winter, street order around the Spring
  Festival;
- **rhythm**: fewer reports at the weekend and on holidays, most in office
  hours and the early evening; staff act in working time;
- **the workflow**: most cases closed and rated, late signs, handling and
  verification now and then (so on-time rates differ from grid to grid),
  forwards to another grid or team member, cancellations, reopens after a
  poor rating, and cases left lying (open and overdue) by every clock.
"""

import bisect
import collections
import hashlib
import itertools
import math
import multiprocessing
import random
from datetime import datetime, timedelta

import numpy as np

from gridmap.cases.categories import in_use
from gridmap.cases.intake import check_report
from gridmap.cases.service import tracking_code
from gridmap.cases.workflow import DISPATCHER, GRID_STAFF, RESIDENT, Actor
from gridmap.errors import BadInput, Conflict
from gridmap.geo.routing import INSIDE, Route

#: Cases whose random numbers come from one generator (any chunking gives the same cases).
CHUNK = 1000
#: Hot spots: (name, categories reported there, with weights).
HOT_SPOTS = (
    ("正阳农贸市场", {"06": 5, "08": 5, "05": 2, "04": 1}),
    ("舟白小学校门口", {"05": 5, "08": 3, "10": 2, "04": 1}),
    ("城东幼儿园门口", {"05": 4, "10": 3, "08": 2}),
    ("新华小区老旧楼栋", {"07": 5, "09": 5, "02": 3, "03": 2, "01": 2}),
    ("滨河步道", {"07": 4, "06": 3, "13": 3, "02": 2}),
    ("公交枢纽站", {"05": 4, "08": 3, "04": 2}),
    ("夜市街", {"08": 5, "06": 4, "01": 3, "04": 3, "03": 1}),
    ("社区养老服务站", {"10": 5, "11": 3, "12": 1}),
    ("商业街", {"14": 5, "08": 2, "03": 2}),
    ("地下通道", {"07": 4, "13": 2, "02": 2}),
)
HOT_SHARE = 0.5
HOT_SPREAD_M = 40.0
#: Shares of reports by category, and their factor by month (1..12).
BASE_SHARES = {"01": 8, "02": 6, "03": 3, "04": 4, "05": 8, "06": 18, "07": 14, "08": 12,
               "09": 10, "10": 5, "11": 2, "12": 2, "13": 1.5, "14": 2, "99": 4.5}
RAINY = {5: 1.5, 6: 2.0, 7: 2.2, 8: 1.8, 9: 1.4}
SEASONS = {
    "07": RAINY,  # drains blocked, manholes, water on the roads
    "13": {m: f * 1.5 for m, f in RAINY.items()},  # floods, landslips
    "06": {6: 1.3, 7: 1.4, 8: 1.4},  # summer rubbish
    "03": {12: 1.8, 1: 2.0, 2: 2.0},  # heaters, fireworks
    "10": {12: 1.4, 1: 1.5, 2: 1.3},
    "08": {1: 1.3, 2: 1.4},
}
WEEKDAY = (1.15, 1.0, 1.0, 1.0, 1.05, 0.7, 0.6)  # Monday first
HOLIDAY = 0.5
HOURS = (0.2, 0.1, 0.1, 0.1, 0.2, 0.4, 1.0, 3.0, 6.0, 9.0, 10.0, 9.0, 5.0, 4.0,
         7.0, 8.0, 8.0, 7.0, 5.0, 5.0, 4.5, 3.0, 1.5, 0.6)
DESCRIPTIONS = {
    "01": ("{place}邻里因停车位发生争执，请网格员协调", "{place}楼上漏水引发邻里纠纷"),
    "02": ("{place}电动车在楼道内充电，存在安全隐患", "{place}围墙开裂，有倒塌危险"),
    "03": ("{place}消防通道被杂物堵塞", "{place}灭火器过期未更换"),
    "04": ("{place}夜间有人聚集喧哗", "{place}发现可疑人员多次徘徊"),
    "05": ("{place}车辆乱停，上下学时段拥堵", "{place}路面坑洼，电动车容易摔倒",
           "{place}红绿灯不亮"),
    "06": ("{place}垃圾堆积无人清运，气味很大", "{place}垃圾桶满溢", "{place}有人乱倒建筑垃圾"),
    "07": ("{place}下水道堵塞，雨后积水严重", "{place}井盖缺失，行人易踩空", "{place}路灯不亮"),
    "08": ("{place}占道经营，行人无法通行", "{place}广告牌乱挂", "{place}流动摊贩占用人行道"),
    "09": ("{place}电梯故障多日无人维修", "{place}物业不处理楼道杂物", "{place}小区门禁损坏"),
    "10": ("{place}独居老人需要上门探访", "{place}放学后儿童无人看护"),
    "11": ("{place}困难家庭需要帮扶", "{place}残疾人出行需要协助"),
    "12": ("{place}居民反映拆迁补偿问题", "{place}居民对施工噪声多次投诉未果"),
    "13": ("{place}暴雨后山体滑坡，堵塞道路", "{place}燃气泄漏气味，请立即处理"),
    "14": ("{place}商户咨询营业执照办理", "{place}小店反映用电用水问题"),
    "99": ("{place}其他问题，请网格员联系我", "{place}流浪猫狗较多"),
}
SPOTS_IN_GRID = ("3栋楼下", "路口", "小区门口", "停车场", "健身广场", "背街小巷")
REPLIES = ("已现场处理完毕", "已协调相关单位处理", "已清理完毕并告知居民", "已联系维修人员修复")
FORWARD_NOTES = ("位置属于相邻网格，转办处理", "需由专职网格员跟进")
CANCEL_NOTES = {"duplicate": "与已有案件重复", "invalid": "现场核实无此问题"}
REOPEN_NOTES = ("居民反映问题仍未解决，返工", "回访发现处理不彻底")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林"
RATINGS = ((5, 55), (4, 28), (3, 10), (2, 4), (1, 3))
#: Lateness: share of cases late at each step; how long such a step takes (limit ×).
LATE = {"sign": 0.08, "handle": 0.09, "verify": 0.06}
LATE_FACTOR = (1.1, 4.0)
# What happens to a case (shares of all cases).
P_CANCEL = 0.03
P_STALL = 0.03  # left lying at some step: open and, sooner or later, overdue
P_FORWARD = 0.06
P_RATE = 0.75
P_REOPEN_LOW = 0.35  # of cases rated 1 or 2
P_REOPEN = 0.01  # of the others


class DemoCases:
    """The demo history of one community (see :func:`demo_cases`)."""

    def __init__(self, service, count, months, seed, end):
        self.service = service
        community = service.community
        bounds = community.boundaries  # one generation for every route and record
        self.calendar, self.router = community.calendar, bounds.router
        self.generation = bounds.number
        self.categories = in_use(community.categories)
        self.codes = sorted(self.categories)
        self.grids = community.grids
        self.teams = community.teams
        self.count, self.seed, self.end = count, seed, end
        self.start = _months_before(end, months)
        rng = random.Random(f"gridmap-demo/{seed}")
        self._box = self.grids.bounds
        self.spots = [(name, self._inside_point(rng), weights) for name, weights in HOT_SPOTS]
        self.spots_by_category = {
            code: ([s for s in self.spots if code in s[2]], [s[2][code] for s in self.spots
                                                            if code in s[2]])
            for code in self.codes}
        self._days, self._day_cum = self._day_weights()
        self._hour_cum = list(itertools.accumulate(HOURS))
        # tracking codes: an odd multiplier and an offset mod 2**50 (a bijection), unique
        self._mul = rng.getrandbits(50) | 1
        self._add = rng.getrandbits(50)
        self.staff = {code: self._staff(code) for code in self.grids.codes}
        self.dispatcher = Actor(DISPATCHER, "dispatcher")
        self.resident = Actor(RESIDENT)

    # -- when, what, where -------------------------------------------------------

    def _day_weights(self):
        """Local days from start to end and the cumulative weight of each."""
        tz = self.calendar.tz
        day, last = self.start.astimezone(tz).date(), self.end.astimezone(tz).date()
        days, cum, total, n = [], [], 0.0, (last - day).days + 1
        for i in range(n):
            month = day.month
            weight = (WEEKDAY[day.weekday()] * (0.75 + 0.25 * i / max(1, n - 1))  # growing use
                      * (1.0 + 0.1 * sum(SEASONS.get(c, {}).get(month, 1.0) - 1.0
                                         for c in ("07", "06"))))
            if not self.calendar.is_working_day(day) and day.weekday() < 5:
                weight *= HOLIDAY
            total += weight
            days.append(day)
            cum.append(total)
            day += timedelta(days=1)
        return days, cum

    def reported_times(self):
        """The ``count`` report instants, sorted (from one generator: cheap to draw)."""
        rng = random.Random(f"gridmap-demo/{self.seed}/times")
        tz, times = self.calendar.tz, []
        start, end = self.start.timestamp(), self.end.timestamp()
        while len(times) < self.count:
            day = self._days[bisect.bisect_left(self._day_cum, rng.random() * self._day_cum[-1])]
            hour = bisect.bisect_left(self._hour_cum, rng.random() * self._hour_cum[-1])
            t = datetime(day.year, day.month, day.day, hour, tzinfo=tz) + timedelta(
                seconds=rng.randrange(3600))
            if start <= t.timestamp() < end:
                times.append(t)
        times.sort()
        return times

    def _category(self, rng, month):
        weights = [BASE_SHARES.get(c, 1.0) * SEASONS.get(c, {}).get(month, 1.0) for c in self.codes]
        return rng.choices(self.codes, weights)[0]

    def _inside_point(self, rng):
        minx, miny, maxx, maxy = self._box
        while True:
            lon, lat = round(rng.uniform(minx, maxx), 6), round(rng.uniform(miny, maxy), 6)
            route = self.router.route_point(lon, lat)
            if route.status == "inside":
                return lon, lat

    def _places(self, rng, codes):
        """Points for reports of categories ``codes``: ``(lons, lats, grid ranks, place
        names)``, every point inside a grid. About half come from the category's hot
        spots; the router routes them all at once (points it does not find inside a
        grid are drawn again; a hot spot's after 10 tries are drawn anywhere)."""
        nrng = np.random.default_rng(rng.getrandbits(64))
        spots = []
        for code in codes:
            candidates, weights = self.spots_by_category[code]
            hot = candidates and rng.random() < HOT_SHARE
            spots.append(rng.choices(candidates, weights)[0] if hot else None)
        n = len(codes)
        centres = np.array([s[1] if s else (np.nan, np.nan) for s in spots]).reshape(n, 2)
        lons, lats = np.zeros(n), np.zeros(n)
        ranks, hot = np.full(n, -1), ~np.isnan(centres[:, 0])
        minx, miny, maxx, maxy = self._box
        todo, tries = np.arange(n), 0
        while todo.size:
            hot[todo] &= tries < 10
            m, h = todo.size, hot[todo]
            dy, dx = (nrng.normal(0.0, HOT_SPREAD_M, m) / 111_195 for _ in range(2))
            x = np.where(h, centres[todo, 0] + dx / np.cos(np.radians(centres[todo, 1])),
                         nrng.uniform(minx, maxx, m)).round(6)
            y = np.where(h, centres[todo, 1] + dy, nrng.uniform(miny, maxy, m)).round(6)
            routed = self.router.route_points(x, y)
            ok = routed.status == INSIDE
            done = todo[ok]
            lons[done], lats[done], ranks[done] = x[ok], y[ok], routed.grid_index[ok]
            todo, tries = todo[~ok], tries + 1
        names = [spot[0] if is_hot else self.grids.grids[rank].name.split("（")[0]
                 + rng.choice(SPOTS_IN_GRID) for spot, is_hot, rank in zip(spots, hot, ranks)]
        return lons.tolist(), lats.tolist(), ranks.tolist(), names

    # -- who ---------------------------------------------------------------------------

    def _staff(self, code):
        """(handler, verifier, other member's person id or None) of a grid: the
        full-time worker handles, the head verifies (never the same person)."""
        team = self.teams.get(code)
        members = [m.person_id for _, _, _, m in team.slots() if m] if team else []
        handler = (team.full_time or team.head).person_id if team and (
            team.full_time or team.head) else f"staff-{code[-3:]}"
        verifier = next((m for m in members if m != handler), f"head-{code[-3:]}")
        other = next((m for m in members if m not in (handler, verifier)), None)
        return (Actor(GRID_STAFF, handler, frozenset([code])),
                Actor(GRID_STAFF, verifier, frozenset([code])), other)

    # -- the cases ------------------------------------------------------------------

    def chunk(self, index, times):
        """The cases ``index * CHUNK`` … reported at ``times`` (a list of instants)."""
        rng = random.Random(f"gridmap-demo/{self.seed}/{index}")
        codes = [self._category(rng, t.month) for t in times]
        places = zip(*self._places(rng, codes))
        return [self._case(rng, index * CHUNK + i, t, code, *place)
                for i, (t, code, place) in enumerate(zip(times, codes, places))]

    def _ids(self, number):
        case_id = hashlib.blake2b(f"{self.seed}/{number}".encode(), digest_size=16).hexdigest()
        return case_id, tracking_code((number * self._mul + self._add) % (1 << 50))

    def _case(self, rng, number, t, code, lon, lat, rank, place):
        grid = self.grids.grids[rank]
        route = Route("inside", grid, grid, 0.0, (grid.code,))  # what route_point answers
        body = {"lon": lon, "lat": lat, "category": code,
                "description": rng.choice(DESCRIPTIONS.get(code, DESCRIPTIONS["99"])).format(
                    place=place)}
        if rng.random() < 0.6:
            body["contact"] = f"100{rng.randrange(10**8):08d}"  # fictional: 100… is no number
        if rng.random() < 0.25:
            body["name"] = rng.choice(SURNAMES) + rng.choice(("先生", "女士"))
            body["hide_name"] = rng.random() < 0.3
        fields = check_report(body, self.categories)
        fields.pop("idempotency_key")
        feature = self.service.new_case(fields, self.categories[code], route, self.generation, t,
                                              *self._ids(number))
        feature["properties"] = self._history(rng, feature["properties"], t)
        return feature

    def _history(self, rng, props, t):
        """Apply the steps a case went through up to ``end``; returns the properties."""
        category = self.categories[props["category"]]
        end, act = self.end, self.service.transition
        handler, verifier, other = self.staff[props["grid_code"]]
        fate = rng.random()
        stall = None
        if P_CANCEL <= fate < P_CANCEL + P_STALL:
            stall = rng.choice(("sign", "sign", "start", "reply", "reply", "close", "close"))

        def after(at, step, limit):
            """When a step taking about a fraction of ``limit`` working hours is done."""
            if rng.random() < LATE.get(step, 0.0):
                hours = limit * rng.uniform(*LATE_FACTOR)
            else:
                hours = limit * min(0.95, rng.lognormvariate(math.log(0.3), 0.6))
            return self.calendar.add_working_hours(at, max(hours, 0.02))

        at = t
        if fate < P_CANCEL:  # a duplicate or a report that proved invalid
            at = after(at, None, category.sign_hours * 2)
            if at <= end:
                reason = "duplicate" if rng.random() < 0.7 else "invalid"
                props = act(props, "cancel", handler, at, CANCEL_NOTES[reason], reason=reason)
            return props
        if rng.random() < P_FORWARD:
            at = after(at, "sign", category.sign_hours)
            if at > end:
                return props
            others = [c for c in self.grids.codes if c != props["grid_code"]]
            if other and rng.random() < 0.4:  # to a team member, who then handles it
                props = act(props, "forward", handler, at, FORWARD_NOTES[1], to_person=other)
                handler = Actor(GRID_STAFF, other, handler.grid_codes)
            else:
                props = act(props, "forward", self.dispatcher, at, FORWARD_NOTES[0],
                            to_grid=rng.choice(others))
                handler, verifier, _ = self.staff[props["grid_code"]]
        steps = (("sign", "sign", category.sign_hours), ("start", None, category.sign_hours),
                 ("reply", "handle", category.handle_hours),
                 ("close", "verify", category.verify_hours))
        for round_ in range(2):
            for action, clock, limit in steps[2 * round_:]:  # a reopened case is in handling
                if action == stall:
                    return props
                at = after(at, clock, limit)
                if at > end:
                    return props
                actor = verifier if action == "close" else handler
                note = rng.choice(REPLIES) if action == "reply" else None
                props = act(props, action, actor, at, note)
            rating = None
            if rng.random() < P_RATE:
                at += timedelta(minutes=rng.randrange(10, 3 * 24 * 60))
                if at > end:
                    return props
                rating = rng.choices(*zip(*RATINGS))[0]
                props = act(props, "rate", self.resident, at, None, rating=rating)
            reopen = P_REOPEN_LOW if rating is not None and rating <= 2 else P_REOPEN
            if round_ or rng.random() >= reopen:
                return props
            at = after(at, None, 8)
            if at > end:
                return props
            props = act(props, "reopen", self.dispatcher, at, rng.choice(REOPEN_NOTES))
            stall = None
        return props


def demo_cases(service, count, months, seed, end, jobs=1):
    """Yield lists of demo case Features (``CHUNK`` at a time), oldest first.

    Parameters
    ----------
    service : gridmap.cases.service.CaseService
        Its community's grids, router, teams, categories and calendar are used;
        its store is not touched.
    count : int
        Cases to make.
    months : int
        How far back the first report may be.
    seed : int
        The same seed, arguments and community give the same cases.
    end : datetime
        Aware: no report and no step later than this.
    jobs : int
        Processes making chunks at once (forked; the cases are the same).
    """
    global _DEMO
    demo = DemoCases(service, count, months, seed, end)
    times = demo.reported_times()
    spans = [(i, times[i * CHUNK:(i + 1) * CHUNK]) for i in range(math.ceil(count / CHUNK))]
    if jobs <= 1 or len(spans) <= 1:
        yield from (demo.chunk(*span) for span in spans)
        return
    _DEMO = demo  # the forked workers' (a Pool pickles the function, not its arguments' world)
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            yield from pool.imap(_chunk, spans)
    finally:
        _DEMO = None


_DEMO = None


def _chunk(span):
    return _DEMO.chunk(*span)


def _months_before(end, months):
    """``end`` less ``months`` calendar months (the day clipped to the month's length)."""
    month = end.month - 1 - months
    year, month = end.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][month - 1]
    return end.replace(year=year, month=month, day=min(end.day, days))


def is_demo_folder(community):
    """Whether the data folder holds the shipped schematic grids (``"schematic": true``
    on every grid, as in ``geodata/``): only there may demo cases be made unasked."""
    return all(grid.properties.get("schematic") is True for grid in community.grids)


def write_demo_cases(service, count, months, seed, end, batch=5000, append=False, jobs=1):
    """Make the demo history (:func:`demo_cases`) and store it with ``create_many``,
    ``batch`` cases at a time (rounded up to whole chunks of :data:`CHUNK`; each batch
    durable before the next). Returns how many cases it wrote in each state (a Counter).

    Raises
    ------
    Conflict
        The store holds cases already and ``append`` is not set; nothing written.
    BadInput
        ``end`` lies in the future (the history would run past now).
    """
    store = service.store
    if end > service.clock():
        raise BadInput("error.demo.end_in_future", end=end.isoformat(), field="end")
    held = store.count()
    if held and not append:
        raise Conflict("error.demo.store_not_empty", count=held)
    pending, written, states = [], 0, collections.Counter()
    for chunk in demo_cases(service, count, months, seed, end, jobs):
        states.update(f["properties"]["state"] for f in chunk)
        pending += chunk
        if len(pending) >= batch or written + len(pending) == count:
            store.create_many(pending)
            written += len(pending)
            pending = []
    return states


#: What ``gridmap serve --demo`` puts into an empty demo store: a few thousand cases over a year.
SERVE_COUNT, SERVE_MONTHS, SERVE_SEED = 3000, 12, 1


def seed_demo_store(service):
    """At ``gridmap serve --demo``: give an empty store of the shipped demo data folder
    (:func:`is_demo_folder`) its demo history, up to now (to the minute). Returns the
    states written (a Counter), or None when the folder is not the demo's or its store
    holds cases: then nothing is written."""
    if not is_demo_folder(service.community) or service.store.count():
        return None
    end = service.clock().replace(second=0, microsecond=0)
    return write_demo_cases(service, SERVE_COUNT, SERVE_MONTHS, SERVE_SEED, end)
