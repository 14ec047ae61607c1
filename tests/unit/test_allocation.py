"""The embedded allocator: per-person limits, refusals with reasons, restore after restart."""

from fractions import Fraction

import pytest

from npuhub.allocation import AllocationRefused, LocalAllocator
from npuhub.site_config import load_site_config


@pytest.fixture
def allocator():
    return LocalAllocator(load_site_config())


def flavor(allocator, fid):
    return allocator.site.catalogue.resolve(fid, {"admins", "lab-demo", "course-demo", "teachers"})


def test_cpu_only_holds_nothing(allocator):
    assert allocator.grant("student1", {"course-demo"}, flavor(allocator, "cpu")) is None


def test_student_limit_is_a_quarter(allocator):
    quarter = flavor(allocator, "npu-quarter")
    grant = allocator.grant("student1", {"course-demo"}, quarter)
    assert grant.share == Fraction(1, 4)
    with pytest.raises(AllocationRefused) as refused:
        allocator.grant("student1", {"course-demo"}, flavor(allocator, "npu-eighth"))
    assert refused.value.reason == "share_limit"
    assert "1/4" in refused.value.text.en and "1/4" in refused.value.text.zh
    allocator.release(grant.id)
    assert allocator.grant("student1", {"course-demo"}, quarter) is not None


def test_full_pool_is_refused_with_a_reason(allocator):
    two = flavor(allocator, "npu-2")
    for i in range(8):
        allocator.grant(f"lab{i}", {"lab-demo"}, two)
    with pytest.raises(AllocationRefused) as refused:
        allocator.grant("student1", {"course-demo"}, flavor(allocator, "npu-eighth"))
    assert refused.value.reason == "pool_full"
    assert refused.value.status_code == 503
    assert "no room for '⅛ Ascend 910B'" in refused.value.text.en
    assert "“⅛ Ascend 910B”" in refused.value.text.zh


def test_restore_is_idempotent(allocator):
    grant = allocator.grant("lab1", {"lab-demo"}, flavor(allocator, "npu-1"))
    fresh = LocalAllocator(allocator.site)
    assert fresh.restore(grant) and fresh.restore(grant)
    assert fresh.held_by("lab1") == 1
    assert fresh.pool.snapshot() == allocator.pool.snapshot()


def test_shared_allocator_is_one_per_site_file(tmp_path):
    assert LocalAllocator.shared(None) is LocalAllocator.shared(None)
