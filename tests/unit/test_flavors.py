"""The flavor catalogue: who may pick what, and the z2jh-compatible profile view."""

from fractions import Fraction

import pytest

from npuhub.flavors import Flavor, FlavorCatalogue, FlavorNotAllowed, FlavorUnknown, flavor_limit


@pytest.fixture
def catalogue():
    return FlavorCatalogue([
        Flavor("cpu", cpu=2, memory="4G"),
        Flavor("npu-quarter", cpu=4, memory="16G", share=Fraction(1, 4), device_model="Ascend 910B",
               default=True),
        Flavor("npu-1", cpu=16, memory="64G", share=Fraction(1), device_model="Ascend 910B",
               groups=frozenset({"lab-demo"})),
    ])


def test_groups_decide_the_menu(catalogue):
    assert [f.id for f in catalogue.for_groups({"course-demo"})] == ["cpu", "npu-quarter"]
    assert [f.id for f in catalogue.for_groups({"lab-demo"})] == ["cpu", "npu-quarter", "npu-1"]
    assert catalogue.default_for({"course-demo"}).id == "npu-quarter"


def test_resolve_refuses_unknown_and_forbidden(catalogue):
    assert catalogue.resolve("npu-1", {"lab-demo"}).share == 1
    with pytest.raises(FlavorUnknown) as unknown:
        catalogue.resolve("npu-99", {"lab-demo"})
    assert "npu-99" in unknown.value.text.en and "npu-99" in unknown.value.text.zh
    with pytest.raises(FlavorNotAllowed) as forbidden:
        catalogue.resolve("npu-1", {"course-demo"})
    assert "cpu, npu-quarter" in forbidden.value.text.en
    for not_an_id in (None, 3, ["npu-1"], {"a": 1}):
        with pytest.raises(FlavorUnknown):
            catalogue.resolve(not_an_id, {"lab-demo"})


def test_a_groups_limit_narrows_the_menu_and_refuses_the_rest_in_both_languages(catalogue):
    only = flavor_limit([{}, None, {"npuhub_flavors": ["cpu"]}, {"other": 1}])
    assert only == {"cpu"}
    assert [f.id for f in catalogue.for_groups({"lab-demo"}, only)] == ["cpu"]
    assert catalogue.default_for({"course-demo"}, only).id == "cpu"  # not the site's default, out of reach
    assert catalogue.resolve("cpu", {"course-demo"}, only).id == "cpu"
    with pytest.raises(FlavorNotAllowed) as limited:
        catalogue.resolve("npu-quarter", {"course-demo"}, only)
    assert limited.value.reason == "flavor_not_allowed" and limited.value.status == 403
    assert "This workshop allows only cpu" in limited.value.text.en and "只允许使用规格 cpu" in limited.value.text.zh
    with pytest.raises(FlavorUnknown):  # an unknown id is still unknown, not "limited"
        catalogue.resolve("npu-99", {"course-demo"}, only)


def test_limits_only_ever_narrow(catalogue):
    assert flavor_limit([]) is None and flavor_limit([{"note": "x"}]) is None
    # two limiting groups: only what both allow; one more group never widens the menu
    assert flavor_limit([{"npuhub_flavors": ["cpu", "npu-quarter"]}, {"npuhub_flavors": ["npu-quarter"]}]) \
        == {"npu-quarter"}
    # a limit that cannot be read allows nothing rather than everything
    for broken in ("cpu", None, 3, {"cpu": True}, [1, 2]):
        assert flavor_limit([{"npuhub_flavors": broken}]) == frozenset()
    assert catalogue.for_groups({"lab-demo"}, frozenset()) == []
    assert catalogue.default_for({"lab-demo"}, frozenset()) is None


def test_names_are_made_in_both_languages(catalogue):
    quarter = catalogue.resolve("npu-quarter", set())
    assert quarter.name.en == "¼ Ascend 910B"
    assert "¼" in quarter.name.zh
    assert catalogue.resolve("cpu", set()).name.zh == "仅 CPU"


def test_profile_view_matches_kubespawner_profile_list(catalogue):
    profile = catalogue.resolve("npu-quarter", set()).to_profile()
    assert profile["slug"] == "npu-quarter"
    assert profile["default"] is True
    assert profile["npuhub"]["share"] == "1/4"


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="twice"):
        FlavorCatalogue([Flavor("cpu", 1, "1G"), Flavor("cpu", 2, "2G")])
