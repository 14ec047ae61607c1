"""The spawner's flavor choice: someone whose sign-in names one flavor (a workshop guest) gets only that."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

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


def spawner(auth_state=None, **options) -> LocalNPUSpawner:
    s = LocalNPUSpawner(user=Owner(auth_state), hub=SimpleNamespace())
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
    assert guest._requested_flavor("cpu").id == "cpu"
    guest.user_options = {"profile": "npu-eighth"}
    with pytest.raises(NPUHubSpawnError, match="may not use the flavor 'npu-eighth'"):
        guest._requested_flavor("cpu")


async def test_everyone_else_keeps_the_menu_of_their_groups():
    for auth_state in (None, {}, {"cas_user": "20250001"}):
        student = spawner(auth_state)
        assert await student.npuhub_only_flavor() is None
        form = await student.get_options_form()
        assert all(f'value="{f}"' in form for f in ("cpu", "npu-eighth", "npu-quarter"))
        assert 'value="npu-half"' not in form
        assert await student.run_options_from_form({"profile": ["npu-eighth"]}) == {"profile": "npu-eighth"}
        assert student._requested_flavor(None).id == "npu-quarter"  # the site's default
