"""The word index (gridmap.store.words) against the plain substring test it replaces."""

import random

import numpy as np
import pytest

from gridmap.store import words as words_module
from gridmap.store.words import WordIndex, bigram_keys

# Chinese, Latin with case, digits, punctuation (full width too), a ligature and a
# sharp s (case folding changes their length), and white space of several kinds.
ALPHABET = list("路灯不亮垃圾井盖漏水电梯坏了号楼") + list("LampLAMPwater42ßﬁİ") + list(
    ",.!?\"\\-、，。（）") + [" ", "\t", "\u3000", "\n"]


def text(rng, lo=0, hi=14):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi)))


def brute(descriptions, query, size):
    """The old filter: every word of ``query.casefold().split()`` in the folded text."""
    words = query.casefold().split()
    return np.array([i < len(descriptions) and isinstance(descriptions[i], str)
                     and all(w in descriptions[i].casefold() for w in words)
                     for i in range(size)], dtype=bool)


def queries(rng, descriptions):
    """Words cut from the descriptions (1 to 5 characters, case changed) and random ones."""
    found = []
    for _ in range(40):
        d = rng.choice(descriptions)
        if isinstance(d, str) and d:
            start = rng.randrange(len(d))
            piece = d[start:start + rng.randint(1, 5)]
            found.append(rng.choice((piece, piece.upper(), piece.lower())))
    found += [text(rng, 1, 4) for _ in range(20)]
    return [" ".join(rng.sample(found, rng.randint(1, 3))) for _ in range(60)]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("merge_min", [1, 3, 4096])
def test_rows_with_equals_the_substring_test(monkeypatch, seed, merge_min):
    """Random texts, repeated ones, edits of rows (also back to an earlier text), rows
    without text; merges early, often, or never."""
    monkeypatch.setattr(words_module, "MERGE_MIN", merge_min)
    rng = random.Random(seed)
    pool = [text(rng) for _ in range(30)]
    index, descriptions = WordIndex(capacity=4), []
    for step in range(300):
        if descriptions and rng.random() < 0.25:  # an edit
            row = rng.randrange(len(descriptions))
        else:
            row = len(descriptions)
            descriptions.append(None)
        value = rng.choice((*pool, text(rng), None, 7, ""))
        descriptions[row] = value
        index.put(row, value)
        if step % 50 == 49:
            for q in queries(rng, descriptions):
                size = len(descriptions) + rng.choice((0, 2))
                got = index.rows_with(q.casefold().split(), size)
                assert got.dtype == bool  # a mask, to and with the columns' others
                assert got.tolist() == brute(descriptions, q, size).tolist(), q


def test_one_and_two_character_words_need_no_check_and_longer_ones_keep_the_order():
    index = WordIndex()
    for row, d in enumerate(("路灯不亮", "灯路", "不亮的路灯", "ab ba", "aba", "b")):
        index.put(row, d)
    assert index.rows_with(["路灯"], 6).tolist() == [True, False, True, False, False, False]
    assert index.rows_with(["灯路"], 6).tolist() == [False, True, False, False, False, False]
    # both bigrams of "aba" are in "ab ba" too, but not the word
    assert np.flatnonzero(index.rows_with(["aba"], 6)).tolist() == [4]
    assert np.flatnonzero(index.rows_with(["b"], 6)).tolist() == [3, 4, 5]
    assert np.flatnonzero(index.rows_with(["灯"], 6)).tolist() == [0, 1, 2]
    assert np.flatnonzero(index.rows_with(["b", "ab"], 6)).tolist() == [3, 4]
    assert not index.rows_with(["x"], 6).any() and not index.rows_with(["xy"], 6).any()
    assert index.rows_with([], 7).tolist() == [True] * 6 + [False]


def test_a_word_matches_inside_one_description_never_across_two():
    index = WordIndex()
    index.put(0, "ab")
    index.put(1, "cd")
    assert not index.rows_with(["bc"], 2).any() and not index.rows_with(["abcd"], 2).any()


def test_folding_is_that_of_casefold():
    index = WordIndex()
    index.put(0, "STRASSE")
    index.put(1, "Straße")
    index.put(2, "ﬁle")
    assert index.rows_with(["strasse"], 3).tolist() == [True, True, False]
    assert index.rows_with(["fi"], 3).tolist() == [False, False, True]
    assert index.rows_with(["ss"], 3).tolist() == [True, True, False]


def test_same_descriptions_share_a_document_before_and_after_a_merge(monkeypatch):
    monkeypatch.setattr(words_module, "MERGE_MIN", 2)
    index = WordIndex()
    for row in range(10):
        index.put(row, ("路灯不亮", "LAMP out", "lamp OUT")[row % 3])
    assert index.docs == 2  # "lamp out" once, whatever the case
    index.put(10, "路灯不亮")
    index.put(11, "other")
    assert index.docs == 3
    assert np.flatnonzero(index.rows_with(["lamp"], 12)).tolist() == [1, 2, 4, 5, 7, 8]
    assert index.nbytes() > 0


def test_a_hash_collision_never_merges_two_texts(monkeypatch):
    monkeypatch.setattr(words_module, "MERGE_MIN", 1)
    monkeypatch.setattr(words_module, "hash", lambda text: 7, raising=False)
    index = WordIndex()
    for row, d in enumerate(("abc", "xyz", "abc", "xyz")):
        index.put(row, d)
    assert index.docs == 2
    assert index.rows_with(["xyz"], 4).tolist() == [False, True, False, True]


def test_bigram_keys_skip_white_space():
    assert bigram_keys("a b") == set()
    assert bigram_keys("ab\u3000cd") == {(ord("a") << 21) | ord("b"), (ord("c") << 21) | ord("d")}


def test_a_query_asked_again_sees_the_rows_put_since():
    index = WordIndex()
    index.put(0, "路灯不亮")
    index.put(1, "垃圾")
    assert index.rows_with(["路灯"], 2).tolist() == [True, False]
    index.put(1, "路灯不亮")  # an edit to a known text
    assert index.rows_with(["路灯"], 2).tolist() == [True, True]
    index.put(2, "新的路灯")  # a new text
    index.put(0, None)
    assert index.rows_with(["路灯"], 3).tolist() == [False, True, True]
    for i in range(20):  # more queries than are kept
        assert index.rows_with([f"{i}"], 3).tolist() == [False] * 3
    assert index.rows_with(["路灯"], 3).tolist() == [False, True, True]


def test_a_word_longer_than_all_the_text_or_as_long_as_it():
    index = WordIndex()
    assert not index.rows_with(["a"], 2).any() and not index.rows_with(["灯"], 0).any()
    index.put(0, "a")
    assert index.rows_with(["a"], 1).tolist() == [True]
    assert index.rows_with(["灯"], 1).tolist() == [False]  # three bytes, the text one
    index.put(1, "灯")
    assert index.rows_with(["灯"], 2).tolist() == [False, True]


def test_one_character_is_matched_on_all_its_bytes():
    # 路 is e8 b7 af; 趯 (U+8DAF) e8 b6 af and 蹯 (U+8E6F) e8 b9 af share two of them
    index = WordIndex()
    for row, d in enumerate(("趯", "x蹯y", "路")):
        index.put(row, d)
    assert index.rows_with(["路"], 3).tolist() == [False, False, True]
    assert index.rows_with(["趯"], 3).tolist() == [True, False, False]


def test_lone_surrogates_are_text_like_any_other():
    index = WordIndex()
    index.put(0, "a\ud800b")
    index.put(1, "ab")
    assert index.rows_with(["\ud800"], 2).tolist() == [True, False]
    assert index.rows_with(["a\ud800b"], 2).tolist() == [True, False]
    assert index.rows_with(["a\ud800"], 2).tolist() == [True, False]


def test_a_repeated_query_is_answered_from_memory_until_a_text_is_added():
    index, asked = WordIndex(), []
    find = index.docs_with
    index.docs_with = lambda word: (asked.append(word), find(word))[1]
    index.put(0, "路灯不亮")
    assert index.rows_with(["路灯"], 1).tolist() == [True]
    index.put(1, "路灯不亮")  # a text seen before: the answer stands
    assert index.rows_with(["路灯"], 2).tolist() == [True, True]
    assert asked == ["路灯"]
    index.put(2, "垃圾")
    assert index.rows_with(["路灯"], 3).tolist() == [True, True, False]
    assert asked == ["路灯", "路灯"]


def test_a_scan_reaches_the_last_byte_of_a_full_buffer():
    index = WordIndex(capacity=1)  # 16 bytes of text at first
    index.put(0, "灯" * 5 + "a")  # 16 bytes: the buffer is full
    assert len(index._buf) == 16
    assert index.rows_with(["灯"], 1).tolist() == [True]
    assert index.rows_with(["a"], 1).tolist() == [True]
    assert index.rows_with(["灯a"], 1).tolist() == [True]


def test_repeated_texts_cost_a_row_little_more_than_its_pointer():
    rng = random.Random(3)
    texts = [text(rng, 5, 20) for _ in range(100)]
    index = WordIndex()
    for row in range(10_000):
        index.put(row, rng.choice(texts))
    assert index.docs <= 100
    assert index.nbytes() / 10_000 < 9  # 4 bytes a row's pointer, grown by half at a time
