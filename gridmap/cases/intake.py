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
        raise BadInput("error.intake.not_plain_text", field=name)
    return value


def _text(body, name, max_len, required=False, pattern=None):
    value = body.get(name)
    if value is None or (value == "" and not required):
        if required:
            raise BadInput("error.missing_field", name=name, field=name)
        return None
    if not isinstance(value, str):
        raise BadInput("error.intake.not_text", type=type(value).__name__, field=name)
    value = value.strip()
    if required and not value:
        raise BadInput("error.intake.empty", field=name)
    if len(value) > max_len:
        raise BadInput("error.intake.too_long", limit=max_len, got=len(value), field=name)
    check_plain_text(value, name)
    if pattern is not None and not pattern.match(value):
        raise BadInput("error.intake.malformed", value=repr(value[:40]), field=name)
    return value


def _number(body, name):
    value = body.get(name)
    if value is None:
        raise BadInput("error.missing_field", name=name, field=name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput("error.intake.not_a_number", value=repr(str(value)[:40]), field=name)
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range
        value = math.inf
    if not math.isfinite(value):
        raise BadInput("error.intake.not_finite", field=name)
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
        raise BadInput("error.body.not_an_object", field="body")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BadInput("error.body.unknown_fields", names=", ".join(map(str, unknown))[:200],
                       field=str(unknown[0])[:64])
    category = body.get("category")
    if not (isinstance(category, str) and category in categories):
        check_offered(category, categories)  # raises: unknown
    hide_name = body.get("hide_name", False)
    if not isinstance(hide_name, bool):
        raise BadInput("error.intake.bad_hide_name", field="hide_name")
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
