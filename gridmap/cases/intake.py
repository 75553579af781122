"""Checking a resident's report before anything is stored.

Every field is checked here and a bad one named in a 400; unknown fields are
refused too, so a misspelt field never silently drops what a resident wrote.
"""

import math
import re

from gridmap.cases.categories import check_offered
from gridmap.errors import BadInput
from gridmap.geo.datums import normalize_datum

DESCRIPTION_MAX = 4000
FIELDS = {"lon", "lat", "datum", "category", "description", "contact", "name", "hide_name",
          "idempotency_key"}
CONTACT_RE = re.compile(r"^[0-9+()\- ]{5,20}$")
# Unicode's Cc (control, a fixed set) but newline and tab, and Cs (lone surrogates)
NOT_PLAIN_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def check_plain_text(value, name):
    """Refuse control characters (but newline and tab) and lone surrogates, naming ``name``."""
    if NOT_PLAIN_RE.search(value):
        raise BadInput(f"{name} 含控制字符或无效字符 / {name} contains control or invalid "
                       "characters", field=name)
    return value


def _text(body, name, max_len, required=False, pattern=None):
    value = body.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise BadInput(f"缺少字段 {name} / missing field {name}", field=name)
        return None
    if not isinstance(value, str):
        raise BadInput(f"{name} 须为文本，收到 {type(value).__name__} / {name} must be text, "
                       f"got {type(value).__name__}", field=name)
    value = value.strip()
    if required and not value:
        raise BadInput(f"{name} 不能为空 / {name} must not be empty", field=name)
    if len(value) > max_len:
        raise BadInput(f"{name} 最长 {max_len} 字，收到 {len(value)} / {name} is at most "
                       f"{max_len} characters, got {len(value)}", field=name)
    check_plain_text(value, name)
    if pattern is not None and not pattern.match(value):
        raise BadInput(f"{name} 格式不正确：{value[:40]!r} / {name} is malformed: {value[:40]!r}",
                       field=name)
    return value


def _number(body, name):
    value = body.get(name)
    if value is None:
        raise BadInput(f"缺少字段 {name} / missing field {name}", field=name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{name} 须为数字，收到 {str(value)[:40]!r} / {name} must be a number, "
                       f"got {str(value)[:40]!r}", field=name)
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range
        value = math.inf
    if not math.isfinite(value):
        raise BadInput(f"{name} 须为有限数字 / {name} must be finite", field=name)
    return value


def check_report(body, categories):
    """Return the cleaned report fields, or raise ``BadInput`` naming the field.

    Parameters
    ----------
    body : object
        The decoded JSON body (must be an object).
    categories : dict
        Known categories by code (a retired one passes here: the caller refuses it
        unless the report replays an idempotency key).
    """
    if not isinstance(body, dict):
        raise BadInput("请求体须为 JSON 对象 / the body must be a JSON object", field="body")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BadInput(f"未知字段 / unknown fields: {', '.join(map(str, unknown))[:200]}",
                       field=str(unknown[0])[:64])
    category = body.get("category")
    if not (isinstance(category, str) and category in categories):
        check_offered(category, categories)  # raises: unknown
    hide_name = body.get("hide_name", False)
    if not isinstance(hide_name, bool):
        raise BadInput("hide_name 须为 true 或 false / hide_name must be true or false",
                       field="hide_name")
    datum = body.get("datum", "wgs84")
    try:
        datum = normalize_datum(datum)
    except BadInput as exc:
        exc.field = "datum"
        raise
    return {
        "lon": _number(body, "lon"), "lat": _number(body, "lat"), "datum": datum,
        "category": category,
        "description": _text(body, "description", DESCRIPTION_MAX, required=True),
        "contact": _text(body, "contact", 20, pattern=CONTACT_RE),
        "name": _text(body, "name", 32),
        "hide_name": hide_name,
        "idempotency_key": _text(body, "idempotency_key", 128),
    }
