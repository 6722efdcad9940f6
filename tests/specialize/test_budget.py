import pytest

from nasedge.errors import NasedgeError
from nasedge.specialize import format_latency, parse_latency


@pytest.mark.parametrize("text, ms", [("20ms", 20.0), ("20 ms", 20.0), ("0.02s", 20.0), ("20", 20.0),
                                      (" 2.5ms ", 2.5), ("1500us", 1.5), ("1e1ms", 10.0), (7, 7.0),
                                      ("20MS", 20.0), ("0.02S", 20.0), ("1500µS", 1.5), ("1500ΜS", 1.5)])
def test_valid_budgets(text, ms):
    assert parse_latency(text) == pytest.approx(ms)


@pytest.mark.parametrize("text", ["", "ms", "20 mm", "-3ms", "0", "20ms5", "fast", "nan", "inf ms"])
def test_invalid_budgets_name_the_value(text):
    with pytest.raises(NasedgeError, match="latency budget .* is not valid; expected a positive duration"):
        parse_latency(text)


def test_format_latency_names_folders():
    assert format_latency(20.0) == "20ms" and format_latency(2.5) == "2.5ms"


def test_several_budgets_ascending_once_each():
    from nasedge.specialize.budget import default_out_name, parse_budgets

    assert parse_budgets("1.8ms, 0.9ms,1.3 ms,0.0009s") == [0.9, 1.3, 1.8]
    assert parse_budgets("20ms") == [20.0] and default_out_name("cpu", [0.9, 1.3]) == "cpu-0.9ms-1.3ms"
    for bad in ("0.9ms,,1.8ms", "0.9ms,", "1ms,-2ms", "1ms,abc"):
        with pytest.raises(NasedgeError, match="not valid"):
            parse_budgets(bad)


def test_a_decimal_comma_is_not_taken_for_two_budgets():
    from nasedge.specialize.budget import parse_budgets

    with pytest.raises(NasedgeError, match=r"'1,3ms' are ambiguous: .*write 1.3ms for a decimal number"):
        parse_budgets("1,3ms")
    with pytest.raises(NasedgeError, match=r"ambiguous: some have a unit, some not; give every budget its unit"):
        parse_budgets("0.9ms,1,3ms")
    assert parse_budgets("1,3") == [1.0, 3.0] and parse_budgets("1ms,3ms") == [1.0, 3.0]
