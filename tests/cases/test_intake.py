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
