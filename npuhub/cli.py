"""The ``npuhub`` command: run the embedded stack, check a site file, migrate the database, and the admin commands."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from importlib import resources
from pathlib import Path

from . import __version__
from .admincli import add_commands as add_admin_commands
from .shares import format_share

__all__ = ["main"]

DEMO_PASSWORD_FILE = "demo-password"


def _demo_password(data_dir: Path) -> tuple[str, str]:
    """The demo password and where it came from: the environment, or a generated one kept in data_dir."""
    from_env = os.environ.get("NPUHUB_DEMO_PASSWORD")
    if from_env:
        if len(from_env) < 8:
            sys.exit("npuhub: NPUHUB_DEMO_PASSWORD must be at least 8 characters long")
        return from_env, "NPUHUB_DEMO_PASSWORD"
    path = data_dir / DEMO_PASSWORD_FILE
    if path.exists():
        return path.read_text().strip(), str(path)
    password = secrets.token_urlsafe(9)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password, f"generated, kept in {path}"


def _load_site(path: str | None):
    # imported here: the site file's checks load JupyterHub, which the admin commands need not wait for
    from .site_config import SiteConfigError, load_site_config

    try:
        return load_site_config(path)
    except SiteConfigError as e:
        sys.exit(f"npuhub: the site file is not valid:\n  {e}")


def cmd_up(args: argparse.Namespace) -> int:
    site = _load_site(args.config)
    if site.kubernetes is not None:
        sys.exit(f"npuhub: {site.source}: pool.kubernetes is for a cluster deployment (the service watches the "
                 "cluster's nodes); `npuhub up` runs one machine with a simulated pool: list its nodes instead "
                 "(pool: [{model: ..., nodes: 2, devices_per_node: 8}])")
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    devices = sum(n.devices for n in site.nodes)
    if site.auth.type == "demo":
        password, origin = _demo_password(data_dir)
        sign_in = (f"  accounts:   student1..student40, labmember1..labmember3, vision1..vision2, teacher1, admin\n"
                   f"  password:   {password}   ({origin})")
    else:
        password = ""
        sign_in = f"  sign-in:    {site.auth.type.upper()} ({site.auth.oidc.get('issuer') or site.auth.cas.get('server_url')})"
    url = f"http://{args.ip}:{args.port}"
    print(
        f"""
npuhub {__version__}: embedded stack
  URL:        {url}
  site file:  {args.config or 'built-in example (npuhub.example.yaml)'}
  data:       {data_dir}
  pool:       {len(site.nodes)} nodes, {devices} devices ({', '.join(sorted({n.model for n in site.nodes})) or 'none'})
{sign_in}
Stop with Ctrl-C; every server it started stops with it.
""",
        flush=True,
    )
    if password:
        os.environ["NPUHUB_DEMO_PASSWORD"] = password
    os.environ.update(
        NPUHUB_MODE="embedded",
        NPUHUB_SITE_CONFIG=str(Path(args.config).resolve()) if args.config else "",
        NPUHUB_DATA_DIR=str(data_dir),
        NPUHUB_PUBLIC_URL=f"http://{'127.0.0.1' if args.ip in ('', '0.0.0.0', '::') else args.ip}:{args.port}",
    )
    from jupyterhub.app import JupyterHub

    config_file = str(resources.files("npuhub") / "embedded" / "jupyterhub_config.py")
    argv = [
        "-f", config_file,
        f"--ip={args.ip}",
        f"--port={args.port}",
        f"--JupyterHub.hub_port={args.hub_port}",
        f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{args.proxy_api_port}",
        f"--log-level={args.log_level}",
    ]
    os.chdir(data_dir)  # JupyterHub writes nothing outside the data directory
    JupyterHub.launch_instance(argv)
    return 0


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def cmd_check(args: argparse.Namespace) -> int:
    site = _load_site(args.config)
    print(f"{site.source}: valid")
    if site.kubernetes is not None:
        for m in site.kubernetes.models:
            backend = site.backends.get(m.model)
            counted = m.resource or (backend.device_resource() if backend is not None else None)
            selector = ", ".join(f"{k}={v}" for k, v in m.node_selector.items())
            print(f"  pool: {m.model} ({m.vendor}) from the cluster's nodes labelled {selector}, counting {counted}")
    else:
        devices = sum(n.devices for n in site.nodes)
        print(f"  pool: {_count(len(site.nodes), 'node', 'nodes')}, {_count(devices, 'device', 'devices')}")
    if not site.backends:
        print("  backends: none (servers run as local processes on the simulated pool)")
    for model, backend in site.backends.items():
        print(f"  backend of {model or 'CPU-only servers'}: {backend.describe()}")
    for flavor in site.catalogue:
        groups = ", ".join(sorted(flavor.groups)) or "everyone"
        share = f"{format_share(flavor.share)} x {flavor.device_model}" if flavor.has_accelerator else "CPU only"
        backend = site.backends.get(flavor.device_model if flavor.has_accelerator else None)
        asks = ""
        if backend is not None:  # the site loader has checked that every flavor can be expressed
            limits = backend.express(flavor.share).limits
            asks = "; pod asks for " + (", ".join(f"{k}: {v}" for k, v in limits.items()) or "no accelerator")
        print(f"  flavor {flavor.id}: {share}, {flavor.cpu:g} CPU, {flavor.memory}; for {groups}{asks}")
    if not site.quotas:
        print("  budgets: none (device-hours are not limited)")
    for rule in site.quotas:
        whom = "each member of" if rule.scope == "user" else "the group"
        cap = f", saved up to {rule.cap} device-hours" if rule.cap is not None else ""
        print(f"  budget: {whom} {', '.join(sorted(rule.groups))}: {rule.device_hours} device-hours "
              f"per {rule.period}{cap}")
    auth = site.auth
    from . import signin_report

    for line in signin_report.describe(auth):
        print(f"  {line}")
    problems = signin_report.problems(auth)
    for problem in problems:
        print(f"  problem: {problem}")
    print("  language: " + (f"JupyterLab and the hub's pages default to {site.language} (each person may switch)"
                            if site.language else "not set (JupyterLab in English; the hub's pages as the browser "
                                                  "prefers)"))
    iso = site.isolation
    modes = {"auto": "each person's server as her own Unix account when npuhub runs as root, else one shared OS user",
             "os-users": "each person's server as her own Unix account (npuhub must run as root)",
             "shared": "every server as the hub's own OS user (no isolation)"}
    print(f"  isolation: {modes[iso.mode]}; accounts named {iso.user_prefix}<name>")
    if iso.mode != "os-users":
        if auth.type == "demo" or iso.allow_shared_os_user:
            print("  on a shared OS user: sign-in allowed (demo accounts, or allow_shared_os_user: true)")
        else:
            print(f"  on a shared OS user: {auth.type.upper()} sign-in refused at start "
                  "(set isolation.allow_shared_os_user: true to accept the risk)")
    if args.claims:
        claims = _read_claims(args.claims)
        print(f"{args.claims}: through the group mapping")
        for line in signin_report.try_claims(auth, claims):
            print(f"  {line}")
    return 1 if problems else 0


def _read_claims(path: str) -> dict:
    """A sample of what the provider sends: OpenID claims, or CAS attributes, as a JSON object."""
    import json

    try:
        claims = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        sys.exit(f"npuhub: cannot read the claims in {path}: {e}")
    if not isinstance(claims, dict):
        sys.exit(f"npuhub: {path} must hold a JSON object (the claims, or the CAS attributes), not "
                 f"{type(claims).__name__}")
    return claims


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database's tables to this version's schema (alembic), once, and say at which revision they are."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    url = args.db_url or os.environ.get("NPUHUB_DB_URL", "")
    if not url:
        sys.exit("npuhub migrate: no database: give --db-url or set $NPUHUB_DB_URL "
                 "(e.g. postgresql+psycopg://npuhub@db.example.edu/npuhub)")
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(url)
    except (ArgumentError, ValueError, ImportError) as e:
        sys.exit(f"npuhub migrate: the database URL is not valid ({e})")
    from .admission.store import upgrade as upgrade_admission
    from .workshops.store import upgrade as upgrade_workshops

    steps = [("admission", upgrade_admission, "npuhub_alembic_version")]
    if args.workshops:
        steps.append(("workshop", upgrade_workshops, "npuhub_workshops_alembic_version"))
    try:
        for name, upgrade, version_table in steps:
            upgrade(engine)
            print(f"{shown}: {name} tables at revision {_revision(engine, version_table)}")
    except SQLAlchemyError as e:
        sys.exit(f"npuhub migrate: {shown}: {str(e).splitlines()[0]}")
    finally:
        engine.dispose()
    return 0


def _revision(engine, version_table: str) -> str:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return ", ".join(context.get_current_heads()) or "none"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="npuhub",
        description="npuhub: a JupyterHub that shares fractions of NPUs and GPUs fairly.",
    )
    parser.add_argument("--version", action="version", version=f"npuhub {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    up = commands.add_parser(
        "up",
        help="run the embedded stack (hub, proxy, simulated pool, local servers) in the foreground",
        description="Run the whole workspace on this machine with a simulated accelerator pool "
        "and demo accounts. Ctrl-C stops it and every server it started.",
    )
    up.add_argument("--ip", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    up.add_argument("--port", type=int, default=8000, help="port people connect to (default: %(default)s)")
    up.add_argument("--config", metavar="FILE", help="site file (default: the built-in npuhub.example.yaml)")
    up.add_argument("--data-dir", default="npuhub-data", metavar="DIR",
                    help="where the hub's database, secrets and people's notebooks live (default: ./%(default)s)")
    up.add_argument("--hub-port", type=int, default=8081, help="internal port of the hub (default: %(default)s)")
    up.add_argument("--proxy-api-port", type=int, default=8001,
                    help="internal port of the proxy's API (default: %(default)s)")
    up.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARN", "ERROR"],
                    help="how much the hub logs (default: %(default)s)")
    up.set_defaults(func=cmd_up)

    check = commands.add_parser("check-config", help="validate a site file and summarise it",
                                description="Validate a site file and print what it defines: pool, flavors, budgets, "
                                "sign-in and its group mapping (exit status 1 when part of the mapping can "
                                "never match).")
    check.add_argument("config", nargs="?", metavar="FILE", help="site file (default: the built-in example)")
    check.add_argument("--claims", metavar="JSON",
                       help="a sample of what the identity provider sends (OpenID claims or CAS attributes, "
                            "as a JSON object): show the groups, admin flag and roles it gives")
    check.set_defaults(func=cmd_check)

    migrate = commands.add_parser(
        "migrate", help="create or upgrade the database's tables to this version, then exit",
        description="Bring the admission tables (and with --workshops the workshop tables) of the npuhub "
        "database to this version's schema, then exit. The service does this itself at start-up; the Helm "
        "chart runs it as a hook before each upgrade, so new service pods meet the tables they expect. "
        "Running it twice changes nothing.")
    migrate.add_argument("--db-url", metavar="URL", help="the database (default: $NPUHUB_DB_URL)")
    migrate.add_argument("--workshops", action="store_true",
                         help="also the workshop tables (when the hub keeps its workshop codes in this database)")
    migrate.set_defaults(func=cmd_migrate)

    add_admin_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
