"""Hiding phone numbers and other personal numbers in text that the public sees.

A resident may type a phone number into a report's description, which
Open311 and the tracking page show to anyone. Public views therefore pass
descriptions through :func:`mask_numbers`: every run of at least
:data:`MIN_DIGITS` digits, joined by at most three separators at a time
(spaces, dashes, dots, slashes, brackets), has its digits replaced by ``*``.
That covers mobile numbers (``138 0013 8000``, ``+86-138…``), landlines
(``023-12345678``, ``(023) 1234 5678``), identity card numbers (17 digits and
a digit or ``X``), bank cards and QQ numbers, written in any Unicode digits
(full-width ``１３８…`` too). Dates (``2026-12-04``, ``2026.12.04``) and
shorter numbers (house numbers, amounts) stay. Staff
views show the text as written.
"""

import re
import unicodedata

MIN_DIGITS = 7
_SEPARATOR = r"[\s\-.()/\u2010-\u2015\u2212]"
_NUMBERS = re.compile(
    r"(?P<date>(?<!\d)\d{4}([-./])\d{1,2}\2\d{1,2}(?!\d))"
    rf"|(?P<run>\d(?:{_SEPARATOR}{{0,3}}\d)*[Xx]?)")


def _normalised(text):
    """``text`` with each character replaced by its NFKC form where that is one character
    (full-width digits and punctuation become ASCII), so positions stay the same."""
    out = []
    for c in text:
        n = unicodedata.normalize("NFKC", c) if not c.isascii() else c
        out.append(n if len(n) == 1 else c)
    return "".join(out)


def mask_numbers(text):
    """``text`` with the digits of phone-number-like runs replaced by ``*``.

    Examples
    --------
    >>> mask_numbers("路灯坏了，请打 138-0013-8000 或 023-12345678，2026-12-04 发现")
    '路灯坏了，请打 ***-****-**** 或 ***-********，2026-12-04 发现'
    >>> mask_numbers("3栋502室门口，约 200 米")
    '3栋502室门口，约 200 米'
    """
    if text is None:
        return None
    plain = _normalised(text)
    chars = list(text)
    for match in _NUMBERS.finditer(plain):
        if match.group("run") is None:
            continue
        start, end = match.span()
        if sum(c.isdecimal() for c in plain[start:end]) < MIN_DIGITS:
            continue
        for i in range(start, end):
            if plain[i].isdecimal() or plain[i] in "Xx":
                chars[i] = "*"
    return "".join(chars)
