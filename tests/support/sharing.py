"""The embedded stack with sharing allowed by the test's own hub configuration (until npuhub's hub config does).

JupyterHub's shares API needs, for a person's server token to share that
server: the person holds ``shares!user``, ``read:users:name`` and
``read:groups:name!group=<each of her groups>`` (roles, which npuhub's
authenticators give at sign-in), and the token asks for
``shares!server=<owner>/<server>`` and the two ``read:*:name`` scopes
(``Spawner.server_token_scopes``). ``SHARING_CONFIG`` adds both on top of the
embedded stack's configuration, as npuhub's hub configuration (helper branch
wt-labshare) is to do for every site.
"""

from __future__ import annotations

from pathlib import Path

from support.stacks import BIN, EmbeddedStack

EMBEDDED_CONFIG = Path(__file__).resolve().parents[2] / "npuhub" / "embedded" / "jupyterhub_config.py"

SHARING_CONFIG = """
load_subconfig({base!r})

from traitlets.utils.importstring import import_item  # noqa: E402

from npuhub.spawners.mixin import _server_token_scopes  # noqa: E402

_Base = c.JupyterHub.authenticator_class
_Base = import_item(_Base) if isinstance(_Base, str) else _Base


class SharingAuthenticator(_Base):
    async def authenticate(self, handler, data):
        model = await super().authenticate(handler, data)
        if model:
            model["roles"] = [*model["roles"], {{
                "name": "test-sharing", "description": "May share her own servers",
                "scopes": ["shares!user", "read:users:name"]}}] + [{{
                "name": f"test-sharing-{{g}}"[:255], "description": f"May share with {{g}}",
                "scopes": [f"read:groups:name!group={{g}}"]}} for g in model.get("groups", [])]
        return model


def _sharing_token_scopes(spawner):
    own = f"{{spawner.user.name}}/{{spawner.name}}"
    return [*_server_token_scopes(spawner), f"shares!server={{own}}", "read:users:name",
            *(f"read:groups:name!group={{g.name}}" for g in spawner.user.groups)]


c.JupyterHub.authenticator_class = SharingAuthenticator
c.Spawner.server_token_scopes = _sharing_token_scopes
"""


class SharingStack(EmbeddedStack):
    """`npuhub up`'s hub configuration plus ``SHARING_CONFIG``, started as `npuhub up` starts it."""

    def command(self) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "jupyterhub_sharing_config.py"
        config.write_text(SHARING_CONFIG.format(base=str(EMBEDDED_CONFIG)))
        env = {"NPUHUB_MODE": "embedded", "NPUHUB_SITE_CONFIG": str(self.config or ""),
               "NPUHUB_DATA_DIR": str(self.data_dir), "NPUHUB_PUBLIC_URL": self.base_url}
        return ["/usr/bin/env", *(f"{k}={v}" for k, v in env.items()), str(BIN / "jupyterhub"),
                "-f", str(config), "--ip=127.0.0.1", f"--port={self.port}",
                f"--JupyterHub.hub_port={self.hub_port}",
                f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{self.api_port}", "--log-level=INFO"]

