"""Groups from several claims, path and DN rules, and the parts of a mapping that can never match.

The directories are the ones operators meet: Keycloak (courses in realm roles,
labs as group paths), a CAS portal releasing LDAP DNs in ``memberOf``, and a
plain ``groups`` claim. The site file's ``auth.groups`` is parsed as the hub reads it.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, strategies as st

from npuhub.auth.cas import CASAuthenticator  # imported before the unit tier stubs out subprocess
from npuhub.group_rules import ClaimSource, Rule, claim_values
from npuhub.groups import GroupMapping, normalize_group
from npuhub.site_config import SiteConfigError, load_site_config
from support.sites import make_site, write_site

KEYCLOAK = {
    "sources": [
        {"claim": "realm_access.roles", "rules": [{"match": "teacher", "role": "teacher"},
                                                  {"prefix": "course-", "role": "course"}]},
        {"claim": "resource_access.npuhub.roles", "rules": [{"match": "operator", "role": "admin"}]},
        {"claim": "groups", "rules": [{"prefix": "/labs/", "role": "lab"}, {"prefix": "/courses/", "role": "course"},
                                      {"match": "/staff/jsjzx-admins", "role": "admin"}]},
    ],
    "admins": ["jsjzx-admins"],
    "allowed": ["course-ai101", "lab-vision"],
}
LDAP = {
    "claim": "memberOf",
    "rules": [{"match": "cn={name},ou=courses,dc=uni,dc=edu", "role": "course"},
              {"match": "cn={name},ou=labs,dc=uni,dc=edu", "role": "lab"},
              {"match": "cn=teachers,ou=staff,dc=uni,dc=edu", "role": "teacher"},
              {"match": "cn=jsjzx,ou=staff,dc=uni,dc=edu", "role": "admin"}],
    "admins": ["jsjzx-admins"],
}


def mapping_of(tmp_path, groups: dict) -> GroupMapping:
    return load_site_config(write_site(tmp_path / "site.yaml", make_site(auth={"groups": groups}))).auth.groups


def test_keycloak_courses_from_roles_and_labs_from_paths(tmp_path):
    mapping = mapping_of(tmp_path, KEYCLOAK)
    token = {
        "realm_access": {"roles": ["offline_access", "default-roles-uni", "teacher", "course-ML"]},
        "resource_access": {"npuhub": {"roles": ["operator"]}, "other": {"roles": ["admin"]}},
        "groups": ["/labs/vision", "/courses/ai101", "/courses/course-db", "/clubs/chess"],
    }
    assert mapping.groups_from_claims(token) == [
        "course-ai101", "course-db", "course-ml", "jsjzx-admins", "lab-vision", "teachers"]
    assert mapping.is_admin(mapping.groups_from_claims(token))
    roles = {r["name"] for r in mapping.roles_for(mapping.groups_from_claims(token))}
    assert {"npuhub-teacher-course-ai101", "npuhub-teacher-course-ml", "npuhub-operator"} <= roles
    dropped = {(k.claim, k.value) for k in mapping.dropped(token)}
    assert dropped == {("realm_access.roles", "offline_access"), ("realm_access.roles", "default-roles-uni"),
                       ("groups", "/clubs/chess")}
    assert mapping.problems() == []


def test_someone_whose_only_group_is_nested(tmp_path):
    mapping = mapping_of(tmp_path, KEYCLOAK)
    groups = mapping.groups_from_claims({"realm_access": {"roles": ["course-ai101"]}})
    assert groups == ["course-ai101"] and mapping.is_allowed(groups)
    # a subgroup path keeps its whole path in the name
    assert mapping.groups_from_claims({"groups": ["/labs/vision/2026"]}) == ["lab-vision-2026"]


def test_cas_member_of_with_ldap_dns(tmp_path):
    mapping = mapping_of(tmp_path, LDAP)
    attributes = {"memberOf": ["cn=ai101,ou=courses,dc=uni,dc=edu", "CN=Vision, OU=Labs, DC=uni, DC=edu",
                               "cn=teachers,ou=staff,dc=uni,dc=edu", "cn=jsjzx,ou=staff,dc=uni,dc=edu",
                               "cn=library,ou=services,dc=uni,dc=edu", "course-plain"]}
    assert mapping.groups_from_claims(attributes) == [
        "course-ai101", "course-plain", "jsjzx-admins", "lab-vision", "teachers"]
    # one DN sent as a single string is one value, not split at its commas
    assert claim_values({"memberOf": "cn=ai101,ou=courses,dc=uni,dc=edu"}, "memberOf") == [
        "cn=ai101,ou=courses,dc=uni,dc=edu"]
    assert mapping.groups_from_claims({"memberOf": "cn=ai101,ou=courses,dc=uni,dc=edu"}) == ["course-ai101"]


def test_plain_groups_claim_and_the_old_single_claim_form(tmp_path):
    # the older form: one claim, strip_prefix, renames (site files written before rules still load)
    mapping = mapping_of(tmp_path, {"claim": "groups", "strip_prefix": "/", "admins": ["jsjzx-admins"],
                                    "rename": {"CO:COU:ai101:members:active": "course-ai101"}})
    claims = {"groups": ["/course-ai101", "/jsjzx-admins", "CO:COU:ai101:members:active", "/everyone"]}
    assert mapping.groups_from_claims(claims) == ["course-ai101", "jsjzx-admins"]
    assert mapping.is_admin(mapping.groups_from_claims(claims))


def test_the_keycloak_full_path_example_of_the_old_docs(tmp_path):
    # "With Full group path on, Keycloak sends /course-ai101 (and /courses/course-ai101 for subgroups)":
    # strip_prefix takes a list, and the longest prefix that matches goes
    mapping = mapping_of(tmp_path, {"claim": "groups", "strip_prefix": ["/", "/courses/", "/labs/"]})
    claims = {"groups": ["/course-ai101", "/courses/course-ml", "/labs/lab-vision", "/admins"]}
    assert mapping.groups_from_claims(claims) == ["admins", "course-ai101", "course-ml", "lab-vision"]


def test_mixing_the_two_forms_says_how_to_rewrite(tmp_path):
    with pytest.raises(SiteConfigError) as e:
        mapping_of(tmp_path, {"claim": "groups", "sources": [{"claim": "realm_access.roles"}]})
    assert "move claim into an entry of sources" in str(e.value)


@pytest.mark.parametrize("rule, problem", [
    ({"prefix": "/labs/", "role": "labs"}, "is not one of"),
    ({"match": "/staff/x", "role": "course"}, "needs {name}"),
    ({"prefix": "/labs/", "match": "x", "role": "lab"}, "not both"),
    ({"role": "lab"}, "needs either"),
    ({"match": "{name}", "role": "admin"}, "would match every value"),
])
def test_bad_rules_are_refused(tmp_path, rule, problem):
    with pytest.raises(SiteConfigError) as e:
        mapping_of(tmp_path, {"claim": "groups", "rules": [rule]})
    assert problem in str(e.value) and "auth.groups.rules[0]" in str(e.value)


def test_what_can_never_match_is_reported(tmp_path):
    mapping = mapping_of(tmp_path, {
        "sources": [{"claim": "groups", "rules": [{"prefix": "/", "role": "group"},
                                                  {"prefix": "/labs/", "role": "lab"},
                                                  {"match": "/staff/heads", "role": "lab_lead"}]}],
        # the locked-out admin: the provider's path written where a hub group name belongs
        "admins": ["/staff/jsjzx-admins"],
        "lab_leads": [],
    })
    problems = "\n".join(mapping.problems())
    assert "auth.groups.admins: '/staff/jsjzx-admins' can never match" in problems
    assert "write 'staff-jsjzx-admins'" in problems
    assert "'/labs/{name}' -> lab can never match: the earlier rule '/{name}' -> group" in problems
    assert "rules[2]" in problems and "auth.groups.lab_leads is empty" in problems


# -- properties -------------------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True)


@given(name=names, case=st.booleans(), spaces=st.booleans())
def test_a_dn_rule_finds_the_name_whatever_the_case_and_spaces(name, case, spaces):
    rule = Rule("course", "cn={name},ou=courses,dc=uni,dc=edu")
    dn = f"cn={name},{' ' if spaces else ''}ou=courses,{' ' if spaces else ''}dc=uni,dc=edu"
    assert rule.match(dn.upper() if case else dn).lower() == name
    assert rule.match(f"cn={name},ou=labs,dc=uni,dc=edu") is None


@given(values=st.lists(st.text(max_size=30), max_size=8), prefix=st.sampled_from(["/labs/", "/courses/", "lab:"]))
def test_every_kept_group_is_a_valid_hub_group_name(values, prefix):
    mapping = GroupMapping(sources=(ClaimSource("groups", (Rule("lab", prefix + "{name}"),), ("/",)),))
    for group in mapping.groups_from_claims({"groups": values}):
        assert group == normalize_group(group) and group
    for kept in mapping.explain({"groups": values}):
        if kept.value.startswith(prefix) and normalize_group(kept.value[len(prefix):]):
            assert kept.group is not None and kept.group.startswith("lab-")


@given(name=names)
def test_a_course_rule_does_not_double_the_prefix(name):
    mapping = GroupMapping(sources=(ClaimSource("g", (Rule("course", "/courses/{name}"),)),))
    assert mapping.groups_from_claims({"g": [f"/courses/{name}", f"/courses/course-{name}"]}) == [f"course-{name}"]


# -- npuhub check-config -------------------------------------------------------------------------------

def test_check_config_summarises_sign_in_and_tries_a_sample(tmp_path, capsys):
    from npuhub.cli import main

    site = write_site(tmp_path / "site.yaml", make_site(auth={
        "type": "oidc", "public_url": "https://jupyter.example.edu",
        "oidc": {"issuer": "https://sso.example.edu/realms/uni", "client_id": "npuhub"}, "groups": KEYCLOAK}))
    claims = tmp_path / "claims.json"
    claims.write_text('{"realm_access": {"roles": ["teacher", "offline_access"]}, "groups": ["/labs/vision"]}')
    assert main(["check-config", str(site), "--claims", str(claims)]) == 0
    out = capsys.readouterr().out
    for line in ("sign-in: OpenID Connect, issuer https://sso.example.edu/realms/uni, client npuhub",
                 ".well-known/openid-configuration", "user name: the claim 'preferred_username'",
                 "callback: https://jupyter.example.edu/hub/oauth_callback",
                 "groups from 'realm_access.roles':", "'/labs/{name}' -> lab (group lab-<name>)",
                 "'operator' -> admin (group jsjzx-admins)", "admins: members of jsjzx-admins",
                 "who may sign in: members of course-ai101, lab-vision (and admins)",
                 "groups '/labs/vision' -> lab-vision", "realm_access.roles 'offline_access' -> dropped",
                 "groups: lab-vision, teachers", "may sign in: yes", "admin: no",
                 "'resource_access.npuhub.roles': not in the sample"):
        assert line in out, line


def test_check_config_fails_on_a_mapping_that_can_never_match(tmp_path, capsys):
    from npuhub.cli import main

    site = write_site(tmp_path / "site.yaml", make_site(auth={
        "type": "cas", "cas": {"server_url": "https://cas.example.edu/cas"},
        "groups": {"claim": "memberOf", "admins": ["CN=Admins"]}}))
    assert main(["check-config", str(site)]) == 1
    out = capsys.readouterr().out
    assert "sign-in: CAS 3, server https://cas.example.edu/cas" in out
    assert "https://cas.example.edu/cas/p3/serviceValidate" in out
    assert "problem: auth.groups.admins: 'CN=Admins' can never match" in out


def test_sign_in_logs_what_it_dropped_once_per_change(caplog, tmp_path):
    auth = CASAuthenticator(cas_server_url="https://cas.example.edu/cas",
                            callback_url="https://hub.example.edu/hub/cas/callback",
                            group_mapping=mapping_of(tmp_path, LDAP))
    auth.log = logging.getLogger("test-signin")
    attributes = {"memberOf": ["cn=ai101,ou=courses,dc=uni,dc=edu", "cn=library,ou=services,dc=uni,dc=edu"]}
    with caplog.at_level(logging.INFO, logger="test-signin"):
        for _ in range(3):  # a sign-in, then refreshes
            assert auth.mapped_groups(attributes, "zhang") == ["course-ai101"]
        attributes["memberOf"].append("cn=chess,ou=clubs,dc=uni,dc=edu")
        auth.mapped_groups(attributes, "zhang")
    lines = [r.getMessage() for r in caplog.records if r.name == "test-signin"]
    assert len(lines) == 2, lines
    assert lines[0] == ("Groups of zhang: kept ['course-ai101']; no rule kept "
                        "memberOf='cn=library,ou=services,dc=uni,dc=edu' (try: npuhub check-config --claims)")
    assert "cn=chess" in lines[1]
