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

MIN_DIGITS = 7
_SEPARATOR = r"[\s\-.()/\u2010-\u2015\u2212]"
_NUMBERS = re.compile(
    r"(?P<date>(?<!\d)\d{4}([-./])\d{1,2}\2\d{1,2}(?!\d))"
    rf"|(?P<run>\d(?:{_SEPARATOR}{{0,3}}\d)*[Xx]?)")


#: full-width forms (U+FF01-FF5E) and the ideographic space as their ASCII twins: one
#: character for one, so positions in the text stay the same
_HALF_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}
_DIGIT = re.compile(r"\d")
_SECRET = re.compile(r"[\dXx\uff38\uff58]")  # what a masked run shows as "*": digits, an ID's X


def mask_numbers(text):
    """``text`` with the digits of phone-number-like runs replaced by ``*``.

    Examples
    --------
    >>> mask_numbers("路灯坏了，请打 138-0013-8000 或 023-12345678，2026-12-04 发现")
    '路灯坏了，请打 ***-****-**** 或 ***-********，2026-12-04 发现'
    >>> mask_numbers("3栋502室门口，约 200 米")
    '3栋502室门口，约 200 米'
    """
    if text is None or len(_DIGIT.findall(text)) < MIN_DIGITS:
        return text  # most descriptions: one pass in C
    plain = text.translate(_HALF_WIDTH)
    pieces, done = [], 0
    for match in _NUMBERS.finditer(plain):
        start, end = match.span("run")
        if start < 0 or len(_DIGIT.findall(plain, start, end)) < MIN_DIGITS:
            continue
        pieces += [text[done:start], _SECRET.sub("*", text[start:end])]
        done = end
    return "".join(pieces) + text[done:]
