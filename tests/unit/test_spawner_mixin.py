"""The spawner's side of a start: the menu it shows, the options it accepts, what it keeps across restarts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from npuhub.service.models import menu_view
from npuhub.site_config import load_site_config
from npuhub.spawners.local import LocalNPUSpawner
from npuhub.spawners.mixin import ONLY_FLAVOR_KEY, NPUHubSpawnError


class Owner:
    """The parts of a hub User the spawner reads: name, groups, auth state."""

    def __init__(self, auth_state=None, groups=("course-demo",)):
        self.name = "someone"
        self.url = "/user/someone/"
        self.groups = [SimpleNamespace(name=g) for g in groups]
        self._auth_state = auth_state

    async def get_auth_state(self):
        return self._auth_state


class MenuFromSite(LocalNPUSpawner):
    """The menu as the service would answer it (``menu_view`` over the built-in site), without a service."""

    async def _service_menu(self):
        return menu_view(load_site_config().catalogue, self.npuhub_groups())


def spawner(auth_state=None, **options) -> LocalNPUSpawner:
    s = MenuFromSite(user=Owner(auth_state), hub=SimpleNamespace())
    s.user_options = options
    return s


async def test_a_guest_is_offered_and_given_only_the_workshop_flavor():
    guest = spawner({ONLY_FLAVOR_KEY: "cpu", "npuhub_workshop": {"code": "ABCD2345"}})
    form = await guest.get_options_form()
    assert form.count('name="profile"') == 1 and 'value="cpu"' in form and "checked" in form
    assert await guest.run_options_from_form({"profile": ["cpu"]}) == {"profile": "cpu"}
    with pytest.raises(NPUHubSpawnError) as info:
        await guest.run_options_from_form({"profile": ["npu-quarter"]})
    assert info.value.status_code == 403 and "Flavors you may use: cpu" in str(info.value)
    # Over the REST API: no profile means the workshop's flavor, another one is refused.
    assert await guest._check_only_flavor(None) == "cpu"
    with pytest.raises(NPUHubSpawnError, match="may not use the flavor 'npu-eighth'"):
        await guest._check_only_flavor("npu-eighth")


async def test_everyone_else_keeps_the_menu_of_their_groups():
    for auth_state in (None, {}, {"cas_user": "20250001"}):
        student = spawner(auth_state)
        assert await student.npuhub_only_flavor() is None
        form = await student.get_options_form()
        assert all(f'value="{f}"' in form for f in ("cpu", "npu-eighth", "npu-quarter"))
        assert 'value="npu-half"' not in form
        assert 'value="npu-quarter"\n           data-share="1/4" checked' in form  # the site's default
        assert await student.run_options_from_form({"profile": ["npu-eighth"]}) == {"profile": "npu-eighth"}
        assert await student._check_only_flavor(None) is None  # the service picks her groups' default


@pytest.mark.parametrize("options, reason", [
    ({"profile": "npu-quarter", "image": "evil"}, "options_invalid"),
    ({"profile": ["npu-quarter"]}, "flavor_unknown"),
    ({"profile": 4}, "flavor_unknown"),
])
def test_options_of_the_wrong_shape_are_refused_before_anything_is_asked(options, reason):
    with pytest.raises(NPUHubSpawnError) as info:
        spawner(**options)._requested_profile()
    assert info.value.refusal.reason == reason and info.value.status_code == 400


def test_the_hub_keeps_only_the_request_id_and_reads_older_states():
    s = spawner()
    s.request_id = "abc123"
    assert s.get_state()["npuhub"] == {"request": "abc123"}
    older = spawner()
    older.load_state({"npuhub": {"flavor": "npu-quarter", "grant": {"id": "r-1", "holder": "someone"}}})
    assert older.request_id == "r-1"


def test_without_the_service_url_a_start_says_what_to_set():
    with pytest.raises(NPUHubSpawnError) as info:
        spawner().admission
    assert "NPUSpawnerMixin.admission_url" in info.value.refusal.text.en
