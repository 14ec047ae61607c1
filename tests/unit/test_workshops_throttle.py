"""Guessing workshop codes at /hub/join: a few wrong codes are free, then each client waits longer."""

from __future__ import annotations

from npuhub.workshops.throttle import JoinThrottle
from support.doubles import FakeClock


def test_a_burst_of_wrong_codes_is_slowed_down_with_growing_waits():
    clock = FakeClock(1000.0)
    throttle = JoinThrottle(free=3, window=60, first_wait=2, max_wait=10, clock=clock)
    for _ in range(3):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.wrong_code("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") is None  # three wrong codes are free
    throttle.wrong_code("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 2
    assert throttle.retry_after("10.0.0.2") is None  # another client is not held up
    clock.now += 2
    assert throttle.retry_after("10.0.0.1") is None  # after the wait, the right code can be tried
    throttle.wrong_code("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 4  # wrong again: twice as long
    for wait in (8, 10, 10):
        clock.now += throttle.retry_after("10.0.0.1")
        throttle.wrong_code("10.0.0.1")
        assert throttle.retry_after("10.0.0.1") == wait


def test_a_class_behind_one_address_that_mistypes_now_and_then_never_waits():
    clock = FakeClock(1000.0)
    throttle = JoinThrottle(free=3, window=60, first_wait=2, max_wait=10, clock=clock)
    for _ in range(20):
        throttle.wrong_code("school-nat")
        assert throttle.retry_after("school-nat") is None
        clock.now += 21  # three wrong codes a minute at most


def test_quiet_clients_are_forgotten_and_the_table_stays_bounded():
    clock = FakeClock(1000.0)
    throttle = JoinThrottle(free=1, window=60, first_wait=2, max_wait=10, max_clients=100, clock=clock)
    throttle.wrong_code("x")
    throttle.wrong_code("x")
    clock.now += 61
    assert throttle.retry_after("x") is None
    throttle.wrong_code("x")
    assert throttle.retry_after("x") is None  # a minute without a wrong code: the strikes are forgiven
    for n in range(1000):
        throttle.wrong_code(f"10.1.{n // 256}.{n % 256}")
    assert len(throttle) <= 100
