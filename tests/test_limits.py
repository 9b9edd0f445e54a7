"""Cost limits: unit parsing (units are mandatory) and the Limit predicate."""

from __future__ import annotations

import pytest

from graphnas import ConstraintError, GraphnasError
from graphnas.cost.limits import Limit, parse_count, parse_latency


# ---------------------------------------------------------------------- latency
@pytest.mark.parametrize("text, ms", [
    ("17ms", 17.0),
    ("250us", 0.25),
    ("0.02s", 20.0),
    ("1s", 1000.0),
    (" 3.5 ms ", 3.5),
    ("1e3us", 1.0),
    (".5ms", 0.5),
])
def test_parse_latency_values(text, ms):
    assert parse_latency(text) == pytest.approx(ms, rel=1e-12, abs=1e-15)


def test_parse_latency_returns_float_in_milliseconds():
    value = parse_latency("17ms")
    assert isinstance(value, float) and value == 17.0


def test_latency_without_unit_suggests_ms():
    with pytest.raises(ConstraintError) as info:
        parse_latency("17")
    msg = str(info.value)
    assert "17ms" in msg
    assert "'17'" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("text", ["fast", "-5ms", "", "   ", "17 mss", "ms", "17km", "1.2.3ms", "17 ms 3", "0ms"])
def test_latency_garbage_raises(text):
    with pytest.raises(ConstraintError) as info:
        parse_latency(text)
    assert isinstance(info.value, GraphnasError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_negative_latency_names_the_value():
    with pytest.raises(ConstraintError, match="-5ms"):
        parse_latency("-5ms")


# ---------------------------------------------------------------------- counts
@pytest.mark.parametrize("text, value", [
    ("330M", 330e6),
    ("1.5G", 1.5e9),
    ("800K", 800e3),
    ("800k", 800e3),
    ("2T", 2e12),
    ("5M", 5e6),
    (" 12 K ", 12e3),
    ("1e2K", 1e5),
])
def test_parse_count_values(text, value):
    assert parse_count(text) == pytest.approx(value, rel=1e-12)


def test_parse_count_lowercase_k_equals_uppercase():
    assert parse_count("800k") == parse_count("800K") == 800_000.0


def test_count_without_unit_suggests_M():
    with pytest.raises(ConstraintError) as info:
        parse_count("17", "MAdds")
    msg = str(info.value)
    assert "17M" in msg
    assert "MAdds" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("text", ["lots", "-5M", "", "5MM", "M", "1.5 Gb", "5m", "0x10M"])
def test_count_garbage_raises(text):
    with pytest.raises(ConstraintError):
        parse_count(text)


def test_count_error_names_the_metric():
    with pytest.raises(ConstraintError, match="parameters limit 'abc'"):
        parse_count("abc", "parameters")


# ---------------------------------------------------------------------- Limit
def test_limit_is_an_inclusive_upper_bound():
    lim = Limit("madds", 100.0, lambda a: a)
    assert lim(99.0) and lim(100.0) and not lim(100.5)
    assert repr(lim) == "Limit(madds <= 100)"
