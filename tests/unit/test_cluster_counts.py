"""A cluster's worker counts reach admission as whole numbers (the fuzzer's ``{"workers": 0.0}`` was a 500)."""

from npuhub.service.handlers.clusters import _counts


def test_integral_floats_the_schema_lets_through_become_ints():
    adaptive, workers = _counts({"workers": 0.0, "adaptive": {"minimum": 1.0, "maximum": 4}})
    assert workers == 0 and type(workers) is int
    assert adaptive == {"minimum": 1, "maximum": 4} and all(type(v) is int for v in adaptive.values())
    assert _counts({}) == (None, None)
