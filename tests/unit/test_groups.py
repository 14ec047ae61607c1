"""Identity-provider groups to hub groups, sign-in decisions and roles."""

from npuhub.groups import GroupMapping, lookup_claim, normalize_group


def test_normalize():
    assert normalize_group(" AI 101/Spring ") == "ai-101-spring"
    assert normalize_group("///") == ""


def test_nested_claims_and_strings():
    claims = {"org": {"groups": "course-ai101, lab-vision"}, "a.b": ["x"]}
    assert lookup_claim(claims, "org.groups") == "course-ai101, lab-vision"
    assert lookup_claim(claims, "a.b") == ["x"]
    assert lookup_claim(claims, "org.missing.deeper") is None
    assert GroupMapping(claim="org.groups").groups_from_claims(claims) == ["course-ai101", "lab-vision"]


def test_only_meaningful_groups_are_kept():
    mapping = GroupMapping(strip_prefix="/", rename={"CN=Staff,OU=IT": "admins"}, known=frozenset({"workshop"}))
    claims = {"groups": ["/course-AI101", "/teachers", "everyone@uni", "CN=Staff,OU=IT", "/workshop", 7, None]}
    assert mapping.groups_from_claims(claims) == ["admins", "course-ai101", "teachers", "workshop"]
    assert mapping.groups_from_claims({"groups": {"not": "a list"}}) == []
    assert mapping.groups_from_claims({}) == []


def test_allowed_and_admin():
    mapping = GroupMapping(allowed=frozenset({"course-ai101"}))
    assert mapping.is_allowed(["course-ai101"]) and mapping.is_allowed(["admins"])
    assert not mapping.is_allowed(["lab-x"]) and not mapping.is_allowed([])
    assert GroupMapping().is_allowed([])  # no allowed list: every account of the provider


def test_roles_teacher_of_her_courses_only():
    mapping = GroupMapping()
    roles = {r["name"]: r for r in mapping.roles_for(["course-ai101", "course-ml", "lab-x", "teachers"])}
    assert set(roles) == {"user", "npuhub-user", "npuhub-teacher-course-ai101", "npuhub-teacher-course-ml"}
    assert "custom:npuhub:teach!group=course-ml" in roles["npuhub-teacher-course-ml"]["scopes"]
    lead = {r["name"] for r in mapping.roles_for(["lab-x", "lab-leads", "course-ai101"])}
    assert lead == {"user", "npuhub-user", "npuhub-lab-lead-lab-x"}
    student = {r["name"] for r in mapping.roles_for(["course-ai101"])}
    assert student == {"user", "npuhub-user"}
