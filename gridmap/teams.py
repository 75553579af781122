"""1+3+N grid teams: one head, three named workers, N helpers per grid.

Teams are kept apart from boundaries (``teams.json`` keyed by grid code), so
redrawing a boundary never edits people, and a vacant slot stays visible.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from gridmap.errors import ConfigError

#: The "1+3" slots in order, with their Chinese and English titles.
SLOTS = (
    ("head", "网格长", "grid head"),
    ("full_time", "专职网格员", "full-time grid worker"),
    ("part_time", "兼职网格员", "part-time grid worker"),
    ("instructor", "网格指导员", "grid instructor"),
)
VACANT = "空缺"


@dataclass(frozen=True)
class Member:
    person_id: str
    name: str
    phone: str = ""
    type: str = ""
    type_en: str = ""


@dataclass(frozen=True)
class Team:
    """A grid's team; a slot holding ``None`` is vacant."""

    grid_code: str
    head: Member | None
    full_time: Member | None
    part_time: Member | None
    instructor: Member | None
    helpers: tuple = ()

    def slots(self):
        """``(slot, title_zh, title_en, member or None)`` for the 1+3 slots."""
        return [(slot, zh, en, getattr(self, slot)) for slot, zh, en in SLOTS]

    def public_dict(self):
        """Names and roles, no phone numbers (safe for public answers)."""
        body = {slot: (m.name if m else None) for slot, _, _, m in self.slots()}
        body["helpers"] = [{"name": h.name, "type": h.type} for h in self.helpers]
        return body

    def summary_lines(self, lang="zh"):
        """Lines such as ``网格长 王某``, ``兼职网格员 空缺``, …, ``N=3``."""
        vacant = VACANT if lang == "zh" else "vacant"
        lines = [f"{zh if lang == 'zh' else en} {m.name if m else vacant}"
                 for _, zh, en, m in self.slots()]
        return lines + [f"N={len(self.helpers)}"]


def load_teams(path, grid_codes, inherit=None):
    """Read ``teams.json`` and return ``{grid_code: Team}`` for every grid.

    A grid without an entry takes the team of the grid named by ``inherit``
    (``{code: the code whose team it took}``, followed through boundary
    generations), else a team whose every slot is vacant; an entry for an
    unknown grid code stops startup, since it means the files disagree.
    ``grid_codes`` should name every grid of every generation, so cases kept
    in a retired grid still show its team.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["teams"]
    except FileNotFoundError:
        entries = {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("error.teams.unreadable", path=path, problem=str(exc)) from exc
    unknown = sorted(set(entries) - set(grid_codes))
    if unknown:
        raise ConfigError("error.teams.unknown_grids", codes=repr(unknown))
    inherit = inherit or {}
    teams = {}
    for code in grid_codes:
        source, seen = code, {code}
        while source not in entries and inherit.get(source) not in (None, *seen):
            source = inherit[source]
            seen.add(source)
        entry = entries.get(source) or {}
        try:
            teams[code] = Team(
                grid_code=code,
                **{slot: Member(**entry[slot]) if entry.get(slot) else None for slot, _, _ in SLOTS},
                helpers=tuple(Member(**h) for h in entry.get("helpers", ())),
            )
        except TypeError as exc:
            raise ConfigError("error.teams.bad_entry", code=source, problem=str(exc)) from exc
    return teams
