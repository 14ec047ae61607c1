"""Whole numbers written as ``2.0`` reach the handlers as ints: JSON Schema's "integer" admits them, and a float
count once made ``POST /clusters`` a 500 (the fuzzer's ``{"workers": 0.0}``)."""

from npuhub.service.validation import check_body, parse_json


def test_whole_numbers_are_read_as_ints_and_fractions_stay_floats():
    data = parse_json(b'{"workers": 0.0, "adaptive": {"minimum": 1.0, "maximum": 4e0}, "hours": 1.5, "n": 3}')
    assert data == {"workers": 0, "adaptive": {"minimum": 1, "maximum": 4}, "hours": 1.5, "n": 3}
    assert [type(v) for v in (data["workers"], *data["adaptive"].values(), data["n"])] == [int] * 4
    assert type(data["hours"]) is float
    # beyond 2**53 a float is not exact: it stays a float (no huge int reaches the clock's arithmetic)
    assert type(parse_json(b"1e300")) is float


def test_a_cluster_body_with_a_float_count_is_checked_and_read_as_ints():
    body = check_body("NewCluster", b'{"workers": 2.0, "adaptive": {"minimum": 1.0, "maximum": 3.0}}')
    assert body["workers"] == 2 and type(body["workers"]) is int
    assert all(type(v) is int for v in body["adaptive"].values())
