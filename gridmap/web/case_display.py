"""How a case reads on staff pages: its deadlines against the working calendar
(time left, coloured), how long ago it came in, and the card a list shows."""

from datetime import datetime

from gridmap.web.i18n import name_of, t, tn

#: the clocks running in each state; the first is the one a card shows
RUNNING = {"reported": ("sign", "handle"), "signed": ("handle",), "handling": ("handle",),
           "replied": ("verify",)}
CLOCKS = ("sign", "handle", "verify")
#: a running deadline shows amber this close: SOON_HOURS working hours, or a quarter of
#: the category's limit for that clock if less (a one-hour sign-for limit is not "soon" at once)
SOON_HOURS, SOON_SHARE = 2.0, 0.25
SHORT_DESCRIPTION = 60  #: characters of the description a card shows


def hours_text(hours):
    """``3.5`` → ``"3.5"``; whole numbers and ten or more hours without decimals."""
    return f"{hours:.0f}" if hours >= 10 or round(hours, 1) == round(hours) else f"{hours:.1f}"


def deadline_status(calendar, now, clock, deadline, state, late, limit_hours):
    """One deadline as a page shows it (``limit_hours``: the category's limit for it).

    Returns ``{"clock", "at", "level", "text"}``: ``level`` is ``ok``, ``soon`` or
    ``late`` for a running clock (with the working time left or over), ``done`` or
    ``done_late`` for a clock the case has stopped, ``off`` for a cancelled case.
    """
    at = datetime.fromisoformat(deadline)
    shown = {"clock": clock, "at": deadline[5:16].replace("T", " ")}
    if state == "cancelled":
        return dict(shown, level="off", text="—")
    if clock not in RUNNING.get(state, ()):
        return dict(shown, level="done_late" if late else "done",
                    text=t("met_late") if late else t("met_on_time"))
    status = calendar.overdue_status(now, at)
    left = status.working_hours_left
    if status.is_overdue:
        over = hours_text(-left)
        text = tn("overdue_by", float(over), h=over) if -left >= 0.05 else t("overdue_just")
        return dict(shown, level="late", text=text)
    soon = min(SOON_HOURS, SOON_SHARE * limit_hours) if limit_hours > 0 else SOON_HOURS
    return dict(shown, level="soon" if left <= soon else "ok",
                text=tn("hours_left", float(hours_text(left)), h=hours_text(left)))


def deadlines(community, now, view):
    """Every deadline of a staff view of a case, in clock order."""
    category = community.category(view["category"])
    return [deadline_status(community.calendar, now, clock, view["deadlines"][clock],
                            view["state"], view["overdue"].get(clock),
                            getattr(category, f"{clock}_hours"))
            for clock in CLOCKS if view["deadlines"].get(clock)]


def time_ago(now, at):
    """How long before ``now`` the ISO time ``at`` was, in words."""
    minutes = int((now - datetime.fromisoformat(at)).total_seconds() // 60)
    if minutes < 1:
        return t("just_now")
    if minutes < 60:
        return t("minutes_ago", n=minutes)
    if minutes < 48 * 60:
        return t("hours_ago", n=minutes // 60)
    return tn("days_ago", minutes // (24 * 60))


def card(community, now, view, case_id):
    """What a list shows of a case: category, short description, how long ago, state,
    the first running deadline (or none), the grid and where the case is."""
    category = community.category(view["category"])
    description = view["description"]
    if len(description) > SHORT_DESCRIPTION:
        description = description[:SHORT_DESCRIPTION - 1] + "…"
    clock = next((c for c in RUNNING.get(view["state"], ()) if view["deadlines"].get(c)), None)
    grid = community.grid(view["grid_code"])
    return {
        "case_id": case_id, "case_no": view["case_no"], "state": view["state"],
        "state_name": t("state_" + view["state"]),
        "category": name_of(category),
        "description": description, "ago": time_ago(now, view["reported_at"]),
        "reported_at": view["reported_at"][5:16].replace("T", " "),
        "deadline": clock and deadline_status(
            community.calendar, now, clock, view["deadlines"][clock], view["state"], False,
            getattr(category, f"{clock}_hours")),
        "late": [k for k, v in view["overdue"].items() if v],
        "grid_code": grid.code, "grid_name": name_of(grid),
        "lon": view["location"][0], "lat": view["location"][1],
    }
