"""Table values printed the way RabbitMQ's reply texts print them."""

import pytest

from amqpd.broker.tables import erl_term

# Expected strings are what Erlang/OTP 25 prints with io:format("~w", ...) for the same floats.
FLOATS = [
    (100.0, "100.0"), (1000.0, "1.0e3"), (3600000.0, "3.6e6"), (0.0001, "0.0001"), (0.001, "0.001"),
    (123456.0, "123456.0"), (1.0e15, "1.0e15"), (10.0, "10.0"), (1234567.0, "1234567.0"), (0.5, "0.5"),
    (0.1, "0.1"), (-2500.0, "-2.5e3"), (1.5e-7, "1.5e-7"), (99999.0, "99999.0"), (100000.0, "1.0e5"),
]


@pytest.mark.parametrize("value, printed", FLOATS)
def test_floats_print_as_erlang_does(value, printed):
    """Erlang picks the scientific form only when it is strictly shorter."""
    assert erl_term(value) == printed
