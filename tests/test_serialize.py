"""to_json: any value in, bounded valid JSON out, never an exception."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from spanlite.tracing.serialize import TRUNCATED_KEY, to_json


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Model:
    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return {"mode": mode}


def test_common_types() -> None:
    assert orjson.loads(to_json(Point(1, 2.5))) == {"x": 1, "y": 2.5}
    assert orjson.loads(to_json(Model())) == {"mode": "json"}
    assert orjson.loads(to_json(dt.date(2026, 1, 2))) == "2026-01-02"
    assert orjson.loads(to_json(frozenset([1]))) == [1]
    assert orjson.loads(to_json({1: "a", None: "b"})) == {"1": "a", "null": "b"}


def test_deep_nesting_is_cut_not_crashed() -> None:
    deep: Any = []
    for _ in range(5_000):
        deep = [deep]
    text = to_json(deep)
    assert "<max depth>" in text


def test_truncation_keeps_valid_json_and_marks_it() -> None:
    text = to_json(["é" * 100_000], max_bytes=1_000)
    value = orjson.loads(text)
    assert value[TRUNCATED_KEY] is True and value["original_bytes"] > 100_000
    assert len(text.encode()) < 1_200


json_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary()
values = st.recursive(
    json_leaves,
    lambda children: st.lists(children) | st.dictionaries(st.text() | st.integers(), children) | st.tuples(children),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_any_value_gives_valid_bounded_json(value: Any) -> None:
    text = to_json(value, max_bytes=2_000)
    orjson.loads(text)
    assert len(text.encode()) <= 4_000


def test_lone_surrogates_become_one_replacement_character_each_in_keys_and_values() -> None:
    value = {"k\ud800": ["x\udc00y", "pair \ud83d\ude00"]}
    assert to_json(value) == '{"k\ufffd":["x\ufffdy","pair \U0001f600"]}'
