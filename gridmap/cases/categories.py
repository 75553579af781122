"""Case categories with their time limits in working hours (from ``categories.json``)."""

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from gridmap.errors import BadInput, ConfigError

LIMITS = ("sign", "handle", "verify")
#: Longest category name an editor may give (either language).
NAME_MAX = 32
#: Largest limit an editor may give: about a year of office hours, so that
#: sign + handle stays far below the calendar's arithmetic bound.
MAX_LIMIT_HOURS = 2000
CODE = re.compile(r"[0-9]{2}")
DECIMAL = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,6})?")


@dataclass(frozen=True)
class Category:
    """A case category. A *retired* one is no longer offered for new reports; its
    cases keep its names and limits (categories are never deleted: cases refer to
    their codes)."""

    code: str
    name: str
    name_en: str
    sign_hours: float
    handle_hours: float
    verify_hours: float
    retired: bool = False

    def to_dict(self):
        entry = {"code": self.code, "name": self.name, "name_en": self.name_en,
                 "limits_hours": {k: getattr(self, f"{k}_hours") for k in LIMITS}}
        if self.retired:
            entry["retired"] = True
        return entry


def in_use(categories):
    """The categories offered for new reports: ``{code: Category}`` without the retired."""
    return {code: c for code, c in categories.items() if not c.retired}


def check_offered(code, categories, field="category"):
    """The category a new report may have: ``categories[code]`` unless unknown or
    retired; else a ``BadInput`` naming ``field`` and the codes in use."""
    c = categories.get(code) if isinstance(code, str) else None
    if c is not None and not c.retired:
        return c
    allowed = list(in_use(categories))
    if c is not None:
        raise BadInput("error.categories.retired", code=code, name={"zh": c.name, "en": c.name_en},
                       allowed=allowed, field=field)
    raise BadInput("error.categories.unknown", code=repr(str(code)[:20]), allowed=allowed, field=field)


def removed_category(code):
    """What a case shows for a category code missing from ``categories.json`` (a hand
    edit deleted it): the code in its names, retired, with no limits to compute with."""
    return Category(code, f"类别 {code}（已删除）", f"category {code} (removed)",
                    math.nan, math.nan, math.nan, retired=True)


def load_categories(path):
    """Read and check the categories file; returns ``{code: Category}`` in file order."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["categories"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("error.categories.unreadable", path=path, problem=str(exc)) from exc
    return parse_categories(entries, path)


def parse_categories(entries, source="categories"):
    """Check the ``categories`` list of a categories document; returns ``{code: Category}``.

    The checks :func:`load_categories` applies, for a document not yet
    written (``source`` names it in messages). Raises ``ConfigError``.
    """
    if not isinstance(entries, list):
        raise ConfigError("error.categories.not_a_list", source=source)
    categories = {}
    for entry in entries:
        try:
            code, limits = str(entry["code"]), entry["limits_hours"]
            hours = {k: float(limits[k]) for k in LIMITS}
            retired = entry.get("retired", False)
            if not isinstance(retired, bool):
                raise TypeError(f"retired must be true or false, got {retired!r}")
            category = Category(code, str(entry["name"]), str(entry.get("name_en", "")),
                                hours["sign"], hours["handle"], hours["verify"], retired)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError("error.categories.bad_entry", entry=repr(entry)[:200],
                              problem=str(exc)) from exc
        if not all(math.isfinite(h) and h > 0 for h in hours.values()):
            raise ConfigError("error.categories.bad_limits", code=code, limits=str(limits))
        if code in categories:
            raise ConfigError("error.categories.duplicate_code", code=code)
        categories[code] = category
    if not in_use(categories):
        raise ConfigError("error.categories.none_in_use", source=source)
    return categories


def dump_categories(categories):
    """The ``categories`` list of a categories document, in the order given.

    Whole hours are written as integers (``24``, not ``24.0``).
    """
    entries = []
    for category in categories:
        entry = category.to_dict()
        entry["limits_hours"] = {k: int(h) if float(h).is_integer() else h
                                 for k, h in entry["limits_hours"].items()}
        entries.append(entry)
    return entries


def make_category(code, name, name_en, limits, retired=False):
    """A category from an editor's values, each checked; a ``BadInput`` names the field.

    Parameters
    ----------
    code : str
        Two ASCII digits, e.g. ``"15"``.
    name, name_en : str
        Chinese and English names: not empty, at most :data:`NAME_MAX`
        characters, no control characters.
    limits : dict
        ``{"sign": …, "handle": …, "verify": …}`` in working hours: numbers or
        plain decimal strings such as ``"0.5"``; above 0 and at most
        :data:`MAX_LIMIT_HOURS`.
    retired : bool
        No longer offered for new reports.

    Examples
    --------
    >>> make_category("15", " 噪声扰民 ", "Noise", {"sign": "0.5", "handle": "8", "verify": 4})
    Category(code='15', name='噪声扰民', name_en='Noise', sign_hours=0.5, handle_hours=8.0, verify_hours=4.0, retired=False)
    """
    if not (isinstance(code, str) and CODE.fullmatch(code)):
        raise BadInput("error.categories.bad_code", code=repr(str(code)[:20]), field="code")
    names = {"name": _checked_name("name", name), "name_en": _checked_name("name_en", name_en)}
    hours = {k: _checked_hours(f"{k}_hours", limits.get(k)) for k in LIMITS}
    return Category(code, names["name"], names["name_en"], hours["sign"], hours["handle"],
                    hours["verify"], bool(retired))


def _checked_name(field, value):
    value = value.strip() if isinstance(value, str) else ""
    if not value or len(value) > NAME_MAX:
        raise BadInput("error.categories.bad_name_length", limit=NAME_MAX, got=len(value), field=field)
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise BadInput("error.categories.control_characters", field=field)
    return value


def _checked_hours(field, value):
    if isinstance(value, str):
        value = value.strip()
        number = float(value) if DECIMAL.fullmatch(value) else None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = None
    if number is None or not (math.isfinite(number) and 0 < number <= MAX_LIMIT_HOURS):
        shown = str(value)[:20]
        raise BadInput("error.categories.bad_limit", high=MAX_LIMIT_HOURS, value=repr(shown), field=field)
    return number
