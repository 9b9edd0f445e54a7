"""Cost limits: the one parser (units are mandatory, counts are whole numbers) and the Limit predicate."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import graphnas
from graphnas import ConstraintError, GraphnasError, arch_cost
from graphnas.cost.limits import METRICS, Limit, bound_value, format_limit, make_limit, parse_count, parse_latency
from graphnas.lookup import parse_limit
from graphnas.space.registry import space_info
from graphnas.train.samplers import ConstrainedSampler


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


# ---------------------------------------------------------------------- one rule for every metric and caller
@pytest.mark.parametrize("metric", ["madds", "params", "bitops"])
def test_counts_are_whole_numbers_read_exactly(metric):
    assert bound_value(metric, "514.368K") == 514368.0  # not 514368.00000000006
    assert all(bound_value(metric, f"{k / 1000:.3f}K") == float(k) for k in range(1, 20000, 7))
    assert bound_value(metric, "0.3K") == 300.0 and bound_value(metric, "1.0005K") == 1000.0  # rounded down
    assert bound_value(metric, 514368.00000000006) == 514368.0 and bound_value(metric, 299.99999999999994) == 300.0
    assert bound_value(metric, 1000.5) == 1000.0 and bound_value(metric, np.int64(7)) == 7.0
    with pytest.raises(ConstraintError, match=f"{METRICS[metric]} limit 0.5 is below 1; counts are whole numbers"):
        bound_value(metric, 0.5)
    with pytest.raises(ConstraintError, match="below 1"):
        bound_value(metric, "0.0004K")


def test_latency_is_read_exactly_and_keeps_its_fraction():
    assert bound_value("latency", "0.1s") == 100.0 and bound_value("latency", "250us") == 0.25
    assert bound_value("latency", 0.5) == 0.5 and bound_value("latency", "1.0005ms") == 1.0005


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize("value, message", [
    (float("nan"), "is NaN"), (True, "is not a number"), (False, "is not a number"), (math.inf, "too large"),
    (10 ** 400, "too large"), (-1, "is negative"), (0, "is zero"), ("1e999", "is not a number with a unit|has no unit"),
    ([1], "is not a number"), ("", "is not a number with a unit"), (None, "is not a number"),
])
def test_every_metric_refuses_the_same_values_in_one_line(metric, value, message):
    for read in (lambda: bound_value(metric, value), lambda: parse_limit(metric, value),
                 lambda: Limit(metric, value, len), lambda: make_limit(metric, value, latency=object())):
        with pytest.raises(ConstraintError, match=message) as info:
            read()
        assert "\n" not in str(info.value)


def test_limit_make_limit_and_lookup_read_a_bound_alike():
    assert parse_limit is bound_value  # graphnas.lookup's name for the one parser
    for metric, text in (("madds", "514.368K"), ("params", "1.5M"), ("bitops", "2.5G"), ("latency", "250us")):
        want = bound_value(metric, text)
        assert Limit(metric, text, len).value == make_limit(metric, text, latency=SimpleNamespace(latency=len)).value \
            == want
        assert bound_value(metric, format_limit(metric, want)) == want  # printed bounds read back unchanged
    assert Limit("energy", 3.5, len).value == 3.5  # a metric of the caller's own: any finite number
    with pytest.raises(ConstraintError, match="limit energy <= nan: the bound must be a finite number"):
        Limit("energy", float("nan"), len)
    with pytest.raises(ConstraintError, match="unknown limit metric 'flops'; choose one of madds, params, bitops, latency"):
        make_limit("flops", "3M")


def test_bitops_limits_on_a_quantised_space():
    space = graphnas.get_space("spos_quant", **space_info("spos_quant").cpu_scale)
    archs = [space.sample(k) for k in range(40)]
    bitops = sorted(arch_cost(a).bitops for a in archs)
    limit = make_limit("bitops", format_limit("bitops", bitops[20]))
    assert limit.value == bitops[20] and repr(limit) == f"Limit(bitops <= {bitops[20]:g})"
    assert [limit(a) for a in archs] == [arch_cost(a).bitops <= bitops[20] for a in archs]
    sampler = ConstrainedSampler(space, [limit])
    rng = np.random.default_rng(0)
    assert all(arch_cost(sampler(rng)).bitops <= bitops[20] for _ in range(5))
    with pytest.raises(ConstraintError, match="limit bitops <= 1000 cannot be met"):
        ConstrainedSampler(space, [make_limit("bitops", "1K")])
