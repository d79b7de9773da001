import pytest

from simulator.config import ConfigError, parse_quantity


@pytest.mark.parametrize("text,kind,expected", [
    ("400 Gb/s", "bandwidth", 50e9),
    ("900 GB/s", "bandwidth", 900e9),
    ("100 Gbps", "bandwidth", 12.5e9),
    ("1 GiB/s", "bandwidth", 2**30),
    ("80 GiB", "bytes", 80 * 2**30),
    ("40 GB", "bytes", 40e9),
    ("512 MiB", "bytes", 512 * 2**20),
    ("2 us", "time", 2e-6),
    ("1.5 ms", "time", 1.5e-3),
    ("30 min", "time", 1800.0),
    ("989.4 TFLOP/s", "flops", 989.4e12),
    ("2.25 PFLOP/s", "flops", 2.25e15),
])
def test_parses_units_to_si(text, kind, expected):
    """Quantities with units become SI numbers; a lowercase b means bits."""
    assert parse_quantity(text, kind, "f") == pytest.approx(expected)


@pytest.mark.parametrize("value,kind", [
    (400, "bandwidth"),          # a bare number: the unit would be a guess
    ("400 Gbit", "bandwidth"),
    ("80 GiB/s", "bytes"),
    ("fast", "time"),
    ("-1 s", "time"),
    (True, "bytes"),
])
def test_rejects_bad_quantities_naming_field_and_units(value, kind):
    """A bad quantity raises ConfigError naming the field, the value and example units."""
    with pytest.raises(ConfigError) as exc:
        parse_quantity(value, kind, "system.topology.nic_bandwidth")
    msg = str(exc.value)
    assert "system.topology.nic_bandwidth" in msg
    assert repr(value) in msg
    assert "such as" in msg


def test_a_long_quantity_is_refused_at_once():
    """A quantity string of 200,000 characters is refused by its length, before the pattern
    (whose backtracking grows with the square of the length) runs over it."""
    with pytest.raises(ConfigError, match="at most 64 characters"):
        parse_quantity("1 " + " " * 100_000 + "x" + " " * 100_000 + "y", "bandwidth", "nic_bandwidth")
