"""graphnas.sqlite_file's meta-field checks: one spec style (type, range, required) under both table stores."""

from __future__ import annotations

import pytest

from graphnas import sqlite_file
from graphnas.cost import latency_store
from graphnas.errors import GraphnasError
from graphnas.lookup import store as lookup_store
from graphnas.sqlite_file import COMPLETE, Field, check_fields, integer, nullable, number, text

SPEC = {
    "rows": integer(1),
    "name": text(),
    "fit": Field(lambda v: isinstance(v, dict), "an object with a and b", COMPLETE,
                 fields={"a": number(), "b": nullable(integer(0)), "c": number(0, lo_open=True, required=False)}),
    "note": text(required=False),
}


def check(meta: dict) -> dict:
    return check_fields(meta, SPEC, lambda what: GraphnasError(f"table t is damaged: {what}"))


@pytest.mark.parametrize("meta, message", [
    ({"name": "x"}, "meta key 'rows' is missing"),
    ({"rows": 1, "name": "x", "complete": True}, "meta key 'fit' is missing"),  # required once complete
    ({"rows": True, "name": "x"}, "meta 'rows' is true, expected a positive integer below 2\\^63"),
    ({"rows": 2 ** 63, "name": "x"}, "meta 'rows' is 9223372036854775808, expected a positive integer"),
    ({"rows": 1.0, "name": "x"}, "meta 'rows' is 1.0, expected"),
    ({"rows": 1, "name": ""}, "meta 'name' is \"\", expected a non-empty string"),
    ({"rows": 1, "name": "x", "note": 3}, "meta 'note' is 3, expected a non-empty string"),
    ({"rows": 1, "name": "x", "fit": []}, "meta 'fit' is \\[\\], expected an object with a and b"),
    ({"rows": 1, "name": "x", "fit": {"b": 1}}, "meta 'fit'.a is missing"),
    ({"rows": 1, "name": "x", "fit": {"a": float("nan"), "b": 1}}, "meta 'fit'.a is NaN, expected a finite number"),
    ({"rows": 1, "name": "x", "fit": {"a": 1, "b": -1}}, "meta 'fit'.b is -1, expected null or a non-negative"),
    ({"rows": 1, "name": "x", "fit": {"a": 1, "b": None, "c": 0}}, "meta 'fit'.c is 0, expected a finite number > 0"),
])
def test_a_field_that_is_missing_or_wrong_is_named_in_one_line(meta, message):
    with pytest.raises(GraphnasError, match=message) as err:
        check(meta)
    assert "\n" not in str(err.value) and str(err.value).startswith("table t is damaged: ")


def test_fields_that_hold_what_they_should_pass():
    meta = {"rows": 3, "name": "x", "extra": [1], "complete": False}  # 'fit' is not required before complete
    assert check(meta) is meta
    assert check({**meta, "complete": True, "fit": {"a": -1.5, "b": None}, "note": "n"})


def test_both_table_stores_declare_their_meta_in_this_style():
    for spec in (lookup_store.META_FIELDS, latency_store.META_FIELDS):
        assert spec and all(isinstance(f, Field) for f in spec.values())
    assert latency_store.META_FIELDS["correction"].required == sqlite_file.COMPLETE
    assert lookup_store.META_FIELDS["input_shape"] is latency_store.META_FIELDS["input_shape"] is sqlite_file.SHAPE


def test_scale_arguments_may_be_lists_nested_to_any_depth_but_not_objects():
    ok = sqlite_file.SCALE.ok
    assert ok({"resolution": 16, "width": 0.25, "head_channels": None, "stage_channels": [24, 40],
               "bits": [[4, 4], [8, 8]], "act": True, "ops": ["a", "b"]})
    assert not ok([16]) and not ok({"w": {"x": 1}}) and not ok({"w": [1, {"x": 1}]}) and not ok({"w": float("inf")})
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert ok({"w": deep}) and not ok({"w": [deep, {}]})  # walked without recursion
