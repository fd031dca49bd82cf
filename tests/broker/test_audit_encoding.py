"""The audit log's canonical encoding is byte for byte what ``json.dumps`` writes.

Hashes of rows written before the fast paths existed must still verify, so the
direct encodings are checked against the standard library on arbitrary text.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from broker import audit

texts = st.text(alphabet=st.characters(codec=None), max_size=40)  # any code point
# hashed rows are UTF-8: lone surrogates cannot be stored there at all
storable = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
values = st.one_of(
    texts,
    st.lists(texts, max_size=4),
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.booleans(),
    st.dictionaries(texts, texts, max_size=3),
    st.lists(st.one_of(texts, st.integers()), max_size=3),
)


def reference_details(details: dict[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@given(st.dictionaries(texts, st.one_of(texts, st.lists(texts, max_size=4)), max_size=10))
def test_flat_details_match_the_stdlib(details: dict[str, Any]) -> None:
    assert audit.canonical_details(details) == reference_details(details)


@given(st.dictionaries(texts, values, max_size=6))
def test_any_details_match_the_stdlib(details: dict[str, Any]) -> None:
    assert audit.canonical_details(details) == reference_details(details)


@given(st.integers(min_value=0), st.lists(storable, min_size=7, max_size=7))
def test_row_hash_matches_the_stdlib(seq: int, fields: list[str]) -> None:
    at, actor, channel, action, subject, details, prev_hash = fields
    row = [seq, at, actor, channel, action, subject, details, prev_hash]
    encoded = json.dumps(row, separators=(",", ":"), ensure_ascii=False)
    expected = hashlib.sha256(encoded.encode()).hexdigest()
    assert audit.row_hash(
        seq=seq, at=at, actor=actor, channel=channel, action=action, subject=subject,
        details=details, prev_hash=prev_hash,
    ) == expected  # fmt: skip
