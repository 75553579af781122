"""Intake checks that need no server (the HTTP side is in tests/web)."""

import sys
import unicodedata

import pytest

from gridmap.cases.intake import check_plain_text
from gridmap.errors import BadInput


def test_plain_text_refuses_exactly_controls_and_lone_surrogates():
    # the definition, character by character, against the check, over all of Unicode
    refused = []
    for code in range(sys.maxunicode + 1):
        try:
            check_plain_text(chr(code), "description")
        except BadInput:
            refused.append(code)
    expected = [code for code in range(sys.maxunicode + 1)
                if unicodedata.category(chr(code)) in ("Cc", "Cs") and chr(code) not in "\n\t"]
    assert refused == expected and len(expected) == 63 + 2048


@pytest.mark.parametrize("text", ["井盖缺失\n第二行\t完", "emoji 🚧 ok", "x" * 4000])
def test_plain_text_passes_ordinary_text(text):
    assert check_plain_text(text, "description") == text


def test_a_bad_character_anywhere_names_the_field():
    with pytest.raises(BadInput) as err:
        check_plain_text("x" * 3999 + "\x1b", "contact")
    assert err.value.field == "contact"


def test_ids_and_tracking_codes_come_from_one_draw():
    from gridmap.cases.service import TRACKING_ALPHABET, new_ids, tracking_code

    assert tracking_code(0) == "00000-00000" and tracking_code(2**50 - 1) == "ZZZZZ-ZZZZZ"
    assert tracking_code(1 << 45) == "10000-00000"
    bits = 0b00001_00010_11111_10000_01010_00000_00011_11110_10101_01100
    assert tracking_code(bits) == "12ZGA-03YNC"  # 1 2 31 16 10 - 0 3 30 21 12
    seen_ids, seen_codes = set(), set()
    for _ in range(2000):
        case_id, code = new_ids()
        assert len(case_id) == 32 and int(case_id, 16) >= 0
        assert len(code) == 11 and code[5] == "-" and set(code) - {"-"} <= set(TRACKING_ALPHABET)
        seen_ids.add(case_id)
        seen_codes.add(code)
    assert len(seen_ids) == len(seen_codes) == 2000
    # every character position varies over the whole alphabet (all 50 bits are random)
    assert all(len({c[i] for c in seen_codes}) == 32 for i in (0, 4, 6, 10))
