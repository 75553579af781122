"""Words in the descriptions, indexed, so a word filter never reads every case.

The console's word filter keeps the cases whose ``properties["description"]``
holds every word of the filter's text, ignoring case: a word ``w`` (from
``text.casefold().split()``) matches when ``w in description.casefold()``, a
plain substring test whatever the script (Chinese has no spaces between words,
and a resident may write ``路灯坏了`` or ``lamp-post``). :class:`WordIndex`
answers exactly that, without looking at every description:

- each distinct case-folded description is kept once, as UTF-8 in one byte
  buffer with offsets (a *document*); a row (``case_no - 1``) points at its
  document, or at none (-1) when its description is not a string. Identical
  descriptions share a document (demo data repeats a lot; real text less);
- an inverted index from each pair of adjacent characters (a *bigram*; the
  pairs inside white space-free runs, the only ones a word can hold) to the
  documents holding it: a compact layout (sorted keys, offsets, one
  ``int32`` array of documents) for the bulk, a small dict for documents added
  since, merged in when they reach half the merged ones;
- a word of two or more characters: the documents holding all of its bigrams,
  then (for three or more) each one checked by a substring search in its
  UTF-8, which is exact (UTF-8 is self-synchronising, so a byte match is a
  character match). A word of one character: a scan of the byte buffer.
  The documents a query found are kept for a few queries, until a document is
  added: a change of the console's filters asks the same words six times.

A document left behind by an update of a description (the row now points
elsewhere) stays: it costs memory, never a wrong answer, as rows are found
from documents through the rows' pointers. The store's workflow never changes
a description, so there are few.

The whole index is saved in ``cases.index`` at each compaction
(:meth:`WordIndex.frozen`, then :meth:`FrozenWords.arrays` outside the
owner's lock) and a process starts from it (:meth:`WordIndex.from_arrays`):
no description is read at start. Documents are found by a hash that is the
same in every process (:func:`~gridmap.store.features.text_hash`).

Not thread-safe: the owner (:class:`~gridmap.store.columns.Columns`) locks.
"""

import unicodedata
from array import array

import numpy as np

from gridmap.store.features import text_hash

SHIFT = 21  # bits of a code point: a bigram's key is (first << SHIFT) | second
MERGE_MIN = 4096  # documents added since the last merge before merging is worth it
ANSWERS = 8  # the documents of this many recent queries are kept until a document is added
#: What saved arrays depend on beyond their layout: how text is case-folded.
FOLDING = f"casefold, Unicode {unicodedata.unidata_version}"
#: The saved arrays (:meth:`FrozenWords.arrays`), and their types.
ARRAYS = {"row_doc": np.int32, "buf": np.uint8, "starts": np.int64, "hashes": np.uint64,
          "hash_docs": np.int32, "keys": np.int64, "offsets": np.int64, "postings": np.int32}


def fold(text):
    """The form a description and the filter's words are compared in."""
    return text.casefold()


def bigram_keys(text):
    """The keys of the pairs of adjacent characters of ``text`` that hold no white
    space (a word, split on white space, holds no other pairs).

    Examples
    --------
    >>> sorted(k >> SHIFT for k in bigram_keys("ab c"))
    [97]
    >>> bigram_keys("x")
    set()
    """
    keys = set()
    for part in text.split():
        codes = [ord(c) for c in part]
        keys.update((a << SHIFT) | b for a, b in zip(codes, codes[1:]))
    return keys


def _grown(array, needed, fill):
    """``array`` with room for at least ``needed`` elements (growing by half), new ones
    ``fill``."""
    if needed <= len(array):
        return array
    new = np.full(max(needed, len(array) * 3 // 2), fill, dtype=array.dtype)
    new[:len(array)] = array
    return new


class FrozenWords:
    """A :class:`WordIndex` as of one moment (:meth:`WordIndex.frozen`)."""

    def __init__(self, row_doc, buf, starts, hashes, hash_docs, keys, offsets, postings, recent,
                 pending_keys, pending_docs):
        self.row_doc, self.buf, self.starts = row_doc, buf, starts
        self._merged = hashes, hash_docs, keys, offsets, postings
        self._recent, self._pending = recent, (pending_keys, pending_docs)

    def arrays(self):
        """Every document in the merged layout: the arrays of :data:`ARRAYS`."""
        hashes, hash_docs, keys, offsets, postings = self._merged
        if self._recent:
            hashes = np.concatenate([hashes, np.fromiter(map(text_hash, self._recent),
                                                         np.uint64, len(self._recent))])
            hash_docs = np.concatenate([hash_docs, list(self._recent.values())])
            order = np.argsort(hashes)
            hashes, hash_docs = hashes[order], hash_docs[order].astype(np.int32)
        pending_keys, pending_docs = self._pending
        if len(pending_keys):
            # (the arrays' types: int64 keys and int32 documents; a key's documents in any order)
            keys = np.concatenate([np.repeat(keys, np.diff(offsets)), pending_keys])
            postings = np.concatenate([postings, pending_docs])
            order = np.argsort(keys)
            keys, postings = keys[order], postings[order].astype(np.int32)
            keys, first = np.unique(keys, return_index=True)
            offsets = np.append(first, len(postings)).astype(np.int64)
        return {"row_doc": self.row_doc, "buf": self.buf, "starts": self.starts,
                "hashes": hashes, "hash_docs": hash_docs, "keys": keys, "offsets": offsets,
                "postings": postings}


class WordIndex:
    """Rows' descriptions, and which rows hold given words (see the module)."""

    def __init__(self, capacity=1024):
        self._row_doc = np.full(capacity, -1, dtype=np.int32)  # row -> document, -1: none
        self._buf = np.zeros(16 * capacity, dtype=np.uint8)  # the documents' UTF-8, end to end
        self._starts = np.zeros(capacity + 1, dtype=np.int64)  # document d: buf[starts[d]:starts[d+1]]
        self.docs = 0
        # Documents by text: those merged, as (sorted hashes, their documents); those since,
        # by their text.
        self._hashes = np.zeros(0, dtype=np.uint64)
        self._hash_docs = np.zeros(0, dtype=np.int32)
        self._recent = {}
        # Bigram -> documents: merged (keys, offsets, documents), and since (pairs of a key
        # and a document, in two flat arrays).
        self._keys = np.zeros(0, dtype=np.int64)
        self._offsets = np.zeros(1, dtype=np.int64)
        self._postings = np.zeros(0, dtype=np.int32)
        self._pending_keys, self._pending_docs = array("q"), array("i")
        self._merged = 0  # documents below this are in the merged layout
        self._answers = {}  # words -> which documents hold them all (the console asks 6 times)

    # -- writing -----------------------------------------------------------------------

    def put(self, row, description):
        """Row ``row`` now has ``description`` (None, or any non-string: no text)."""
        self._row_doc = _grown(self._row_doc, row + 1, -1)
        self._row_doc[row] = self._document(fold(description)) if isinstance(description,
                                                                              str) else -1

    def _document(self, text):
        """The document of ``text`` (folded), made if new."""
        doc = self._recent.get(text)
        if doc is not None:
            return doc
        data = text.encode("utf-8", "surrogatepass")
        doc = self._find(np.uint64(text_hash(text)), data)
        if doc is not None:
            return doc
        doc, start = self.docs, self._starts[self.docs]
        self._buf = _grown(self._buf, int(start) + len(data), 0)
        self._buf[start:start + len(data)] = np.frombuffer(data, dtype=np.uint8)
        self._starts = _grown(self._starts, doc + 2, 0)
        self._starts[doc + 1] = start + len(data)
        self.docs += 1
        self._answers.clear()
        self._recent[text] = doc
        keys = bigram_keys(text)
        self._pending_keys.extend(keys)
        self._pending_docs.extend([doc] * len(keys))
        if len(self._recent) >= max(MERGE_MIN, self._merged // 2):
            self._merge()
        return doc

    def _find(self, key, data):
        """The merged document whose text hashes to ``key`` and is ``data``, or None."""
        lo = np.searchsorted(self._hashes, key, "left")
        hi = np.searchsorted(self._hashes, key, "right")
        for doc in self._hash_docs[lo:hi]:
            if self._bytes(doc) == data:
                return int(doc)
        return None

    def _bytes(self, doc):
        return self._buf[self._starts[doc]:self._starts[doc + 1]].tobytes()

    def _merge(self):
        """Move the documents added since (there are some) into the merged layout."""
        merged = self.frozen().arrays()
        for name in ("hashes", "hash_docs", "keys", "offsets", "postings"):
            setattr(self, f"_{name}", merged[name])
        self._recent = {}
        self._pending_keys, self._pending_docs = array("q"), array("i")
        self._merged = self.docs

    def frozen(self):
        """The index as of now, to be laid out later without the owner's lock: a
        :class:`FrozenWords`. Cheap: the merged arrays are replaced, never changed,
        and the documents' bytes only ever grow past what is used."""
        docs = self.docs
        return FrozenWords(self._row_doc.copy(), self._buf[:self._starts[docs]],
                           self._starts[:docs + 1], self._hashes, self._hash_docs, self._keys,
                           self._offsets, self._postings, dict(self._recent),
                           np.array(self._pending_keys), np.array(self._pending_docs))

    @classmethod
    def from_arrays(cls, arrays):
        """The index saved as ``arrays`` (:meth:`FrozenWords.arrays`; copied)."""
        self = cls(0)
        for name in ARRAYS:
            setattr(self, f"_{name}", np.array(arrays[name], dtype=ARRAYS[name]))
        self.docs = self._merged = len(self._starts) - 1
        return self

    # -- reading -----------------------------------------------------------------------

    def nbytes(self):
        """Bytes of the arrays held (the dicts of recent additions not counted)."""
        return sum(a.nbytes for a in (self._row_doc, self._buf, self._starts, self._hashes,
                                      self._hash_docs, self._keys, self._offsets,
                                      self._postings))

    def _posting(self, key):
        """The documents holding bigram ``key``."""
        i = np.searchsorted(self._keys, key)
        merged = (self._postings[self._offsets[i]:self._offsets[i + 1]]
                  if i < len(self._keys) and self._keys[i] == key else self._postings[:0])
        pending = np.array(self._pending_docs)[np.array(self._pending_keys) == key]
        return np.concatenate([merged, pending])

    def docs_with(self, word):
        """The documents that hold ``word`` (folded, without white space)."""
        data = word.encode("utf-8", "surrogatepass")
        if len(word) == 1:
            return self._scan(data)
        postings = sorted((self._posting(k) for k in bigram_keys(word)), key=len)
        found = postings[0]
        for other in postings[1:]:
            if not len(found):
                break
            holds = np.zeros(self.docs, dtype=bool)
            holds[other] = True
            found = found[holds[found]]
        if len(word) > 2:  # the bigrams are all there, but maybe not in this order
            buf, starts = self._buf, self._starts
            found = found[np.fromiter((data in buf[starts[d]:starts[d + 1]].tobytes()
                                       for d in found), bool)]
        return found

    def _scan(self, data):
        """The documents whose bytes hold ``data`` (a few bytes), by one pass over them all."""
        end = int(self._starts[self.docs])
        span = end - len(data) + 1
        if span <= 0:  # the word is longer than all the text
            return []
        buf = self._buf
        at = buf[:span] == data[0]
        for i in range(1, len(data)):
            at &= buf[i:span + i] == data[i]
        where = np.flatnonzero(at)
        return np.searchsorted(self._starts[1:self.docs + 1], where, "right")

    def rows_with(self, words, size):
        """Which of rows ``0 .. size - 1`` hold every one of ``words`` (folded), a mask."""
        words = tuple(words)
        table = self._answers.get(words)
        if table is None:
            table = np.ones(self.docs + 1, dtype=bool)
            table[-1] = False  # rows without text (-1) hold no word
            for word in words:
                holds = np.zeros(self.docs + 1, dtype=bool)
                holds[self.docs_with(word)] = True
                table &= holds
            if len(self._answers) >= ANSWERS:
                del self._answers[next(iter(self._answers))]
            self._answers[words] = table
        doc = self._row_doc[:size]
        mask = np.zeros(size, dtype=bool)  # rows never put (beyond the array) hold none
        mask[:len(doc)] = table[doc]
        return mask
