"""Case categories with their time limits in working hours (from ``categories.json``)."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

from gridmap.errors import ConfigError

LIMITS = ("sign", "handle", "verify")


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    name_en: str
    sign_hours: float
    handle_hours: float
    verify_hours: float

    def to_dict(self):
        return {"code": self.code, "name": self.name, "name_en": self.name_en,
                "limits_hours": {k: getattr(self, f"{k}_hours") for k in LIMITS}}


def load_categories(path):
    """Read and check the categories file; returns ``{code: Category}`` in file order."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["categories"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"类别文件无法读取 / categories file unreadable: {path}: {exc}") from exc
    categories = {}
    for entry in entries:
        try:
            code, limits = str(entry["code"]), entry["limits_hours"]
            hours = {k: float(limits[k]) for k in LIMITS}
            category = Category(code, str(entry["name"]), str(entry.get("name_en", "")),
                                hours["sign"], hours["handle"], hours["verify"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"类别条目格式错误 / bad category entry {entry!r}: {exc}") from exc
        if not all(math.isfinite(h) and h > 0 for h in hours.values()):
            raise ConfigError(f"类别 {code} 的时限须为正数 / limits of {code} must be positive: {limits}")
        if code in categories:
            raise ConfigError(f"类别代码重复 / duplicate category code {code}")
        categories[code] = category
    if not categories:
        raise ConfigError(f"类别文件为空 / no categories in {path}")
    return categories
