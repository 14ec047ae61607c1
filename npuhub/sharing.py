"""Sharing a running server with a person or a group, on JupyterHub's own shares API (``/hub/api/shares/...``).

JupyterHub 5+ keeps the shares (who may reach which server) and checks them
on every request to a server; npuhub only decides who may share and what a
server's own token may do:

- every person may share her own servers (``shares!user``) with anyone she
  names, a person or a group; to name them JupyterHub wants
  ``read:users:name`` and ``read:groups:name`` (this lets anyone check
  whether a name exists, never list people: ``list:users`` stays withheld);
- a server's own token (``$JUPYTERHUB_API_TOKEN``, which the lab extension's
  server part uses for the NPU panel's *Share*) may list, grant and revoke the
  shares of that one server only (``shares!server``, which JupyterHub narrows
  to ``shares!server=<owner>/<server>``), never of her other servers;
- a share grants what JupyterHub grants by default, ``access:servers`` of that
  one server: the invitee can open it, not start or stop it, nor reach any
  other server of the owner.
"""

from __future__ import annotations

__all__ = ["USER_SHARING_SCOPES", "SERVER_SHARING_SCOPES"]

#: Added to every person's role (``npuhub-user``): share her own servers with people and groups she names.
USER_SHARING_SCOPES = ("shares!user", "read:users:name", "read:groups:name")

#: Asked for a server's own token; the hub keeps what the owner holds, narrowed to this one server.
SERVER_SHARING_SCOPES = ("shares!server", "read:shares!server", "read:users:name", "read:groups:name")
