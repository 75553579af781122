"""Masking phone numbers and ID numbers in public text: any way they are written, while
dates and short numbers stay."""

from hypothesis import given
from hypothesis import strategies as st

from gridmap.cases.masking import mask_numbers

FULL_WIDTH = str.maketrans("0123456789+-() ", "０１２３４５６７８９＋－（）\u3000")
#: text around a number, without digits (CJK, letters, punctuation)
context = st.text(st.sampled_from("路灯坏了请联系张先生电话号码：，。！ 在小区门口 abc\n"), max_size=12)
separators = st.sampled_from(["", " ", "-", " - ", "—", "－", "\u3000", "."])


def digits(n, first=""):
    return st.text(st.sampled_from("0123456789"), min_size=n, max_size=n).map(first.__add__)


@st.composite
def mobile(draw):
    number = draw(digits(9, "1" + draw(st.sampled_from("3456789"))))
    sep = draw(separators)
    spelt = draw(st.sampled_from([number, sep.join((number[:3], number[3:7], number[7:]))]))
    prefix = draw(st.sampled_from(["", "+86", "+86 ", "+86-", "0086 ", "(+86)", "86"]))
    return prefix + spelt


@st.composite
def landline(draw):
    area = draw(st.sampled_from(["023", "010", "0755", "0851"]))
    local = draw(digits(draw(st.sampled_from([7, 8]))))
    sep = draw(separators)
    return draw(st.sampled_from([f"{area}{sep}{local}", f"({area}){local}", f"({area}) {local}",
                                 f"{area}{sep}{local[:4]}{sep}{local[4:]}"]))


id_card = st.tuples(digits(17), st.sampled_from("0123456789Xx")).map("".join)


@given(context, st.one_of(mobile(), landline(), id_card), context, st.booleans())
def test_phone_and_id_numbers_lose_every_digit(before, number, after, full_width):
    if full_width:
        number = number.translate(FULL_WIDTH)
    masked = mask_numbers(before + number + after)
    assert masked.startswith(before) and masked.endswith(after)
    middle = masked[len(before):len(masked) - len(after)]
    assert len(middle) == len(number) and not any(c.isdecimal() for c in middle), (number, masked)
    assert "X" not in middle and "x" not in middle


@given(context, st.integers(0, 999_999), context)
def test_short_numbers_stay(before, number, after):
    text = f"{before}{number}{after}"
    assert mask_numbers(text) == text


@given(context, st.dates(), st.sampled_from("-./"), context)
def test_dates_stay(before, day, sep, after):
    text = f"{before}{day.year:04d}{sep}{day.month:02d}{sep}{day.day:02d}{after}"
    assert mask_numbers(text) == text


def test_examples():
    assert mask_numbers("2026-12-04 10:30 发现，联系 13800138000") == (
        "2026-12-04 10:30 发现，联系 ***********")
    assert mask_numbers("3栋2单元502室，约 200 米，损失 12000 元") == "3栋2单元502室，约 200 米，损失 12000 元"
    assert mask_numbers("身份证 50011419900101123X，银行卡 6222 0212 3456 7890") == (
        "身份证 ******************，银行卡 **** **** **** ****")
    assert mask_numbers("١٣٨٠٠١٣٨٠٠٠") == "*" * 11  # any script's digits
    assert mask_numbers(None) is None


def test_seven_digits_are_the_shortest_run_masked():
    assert mask_numbers("座机 8765432") == "座机 *******"
    assert mask_numbers("座机 876543") == "座机 876543"
    assert mask_numbers("约 200 米，座机 876-5432") == "约 200 米，座机 ***-****"
