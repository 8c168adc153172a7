"""The body pre-check never lets a refused character past: any JSON text that holds one,
however it was written (escaped or raw), is caught by `may_hold_control_characters`."""

from __future__ import annotations

import json

import orjson
from hypothesis import given
from hypothesis import strategies as st

from houseofcare.api.inputs import control_character, may_hold_control_characters

texts = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=30)


@given(texts)
def test_a_body_holding_a_refused_character_is_always_checked(text: str) -> None:
    for body in (
        json.dumps({"title": text}).encode(),  # escaped: \\u0000, \\u0085 …
        json.dumps({"title": text}, ensure_ascii=False).encode(),  # raw where JSON allows
        orjson.dumps({"title": text}),
    ):
        if control_character(text) is not None:
            assert may_hold_control_characters(body), body


def test_an_ordinary_body_skips_the_walk() -> None:
    body = orjson.dumps({"title": "Breathe easier, walk to the shops", "note": "café\n\tok"})
    assert not may_hold_control_characters(body)
