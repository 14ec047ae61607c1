"""The ``npuhub quota``, ``reserve``, ``queue`` and ``pool`` commands: their options and what each one prints.

Each command makes one or two calls to the service's API (``client``) and
prints either a table for people (``render``) or, with ``--json``, the API's
answer as it came. Nothing here reads the admission database: what a person may
see or change is the service's decision, made from her token's scopes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable
from fractions import Fraction

from .. import __version__
from . import render
from .client import CommandError, ServiceClient, connection_from, segment
from .language import LANGUAGES

__all__ = ["add_commands"]

#: Exact device-hours as the API takes them: "2", "+2", "-1/2", "1.5".
_HOURS = re.compile(r"^[+-]?([0-9]{1,9}(\.[0-9]{1,9})?|[0-9]{1,9}/[1-9][0-9]{0,8})$")

Handler = Callable[[argparse.Namespace, ServiceClient], int]


# -- options ---------------------------------------------------------------------------------------------
def _connection_options() -> argparse.ArgumentParser:
    """--url, --token, --json and --lang for every command that calls the service.

    Their defaults are resolved when the command runs (not here), so that the
    generated reference does not show the environment of the machine that built it.
    SUPPRESS keeps a subcommand (``queue cancel``) from resetting what was given
    before its name (``queue --json cancel``).
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--url", default=argparse.SUPPRESS,
                       help="the hub's address (default: $NPUHUB_URL, else http://127.0.0.1:8000)")
    group.add_argument("--token", default=argparse.SUPPRESS,
                       help="a JupyterHub API token of yours (default: $NPUHUB_TOKEN, else $JUPYTERHUB_API_TOKEN); "
                            "the environment is safer: a command line is visible to everyone on the machine")
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print the API's JSON answer as it is, for scripts")
    group.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS,
                       help="the language of the service's sentences (default: Chinese when $LC_ALL, "
                            "$LC_MESSAGES or $LANG starts with zh, else English)")
    return common


def _account(value: str) -> str:
    """``user:NAME`` or ``group:NAME``; a bare name is a person's account."""
    if not value or "/" in value:
        raise argparse.ArgumentTypeError(f"{value!r} is not an account like user:student1 or group:course-ai")
    return value if value.startswith(("user:", "group:")) else f"user:{value}"


def _hours(value: str) -> str:
    if not _HOURS.match(value.strip()) or Fraction(value.strip()) == 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a non-zero number of device-hours like 2, -1/2 or 1.5")
    return value.strip().lstrip("+")


def _moment(value: str) -> str:
    """A date and time as UTC ISO 8601 for the API; without a time zone it is local time. ``now`` is now."""
    if value.strip().lower() == "now":
        at = dt.datetime.now(dt.UTC)
    else:
        try:
            at = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a date and time like 2026-05-04T09:00 (local time) "
                                             "or 2026-05-04T09:00Z (UTC)") from None
        if at.tzinfo is None:
            at = at.astimezone()  # a time without a zone is the person's local time
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if not 1 <= count <= 1000:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of slices from 1 to 1000")
    return count


def _minutes(value: str) -> float:
    try:
        minutes = float(value)
    except ValueError:
        minutes = -1
    if not 0 <= minutes <= 1440:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of minutes from 0 to 1440")
    return minutes


def _limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of entries from 1 to 1000")
    return limit


# -- running a command -------------------------------------------------------------------------------------
def _runner(handler: Handler) -> Callable[[argparse.Namespace], int]:
    """The parser's ``func``: connect, run the handler, and turn every failure into a sentence and an exit code."""

    def run(args: argparse.Namespace) -> int:
        for stream in (sys.stdout, sys.stderr):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="replace")  # the service's sentences are Chinese and English
        client = None
        try:
            conn = connection_from(getattr(args, "url", None), getattr(args, "token", None),
                                   lang=getattr(args, "lang", None))
            # while the service restarts, say why the command waits
            client = ServiceClient(conn, on_wait=lambda text: print(text, file=sys.stderr, flush=True))
            return handler(args, client)
        except CommandError as e:
            print(e.text, file=sys.stderr)
            return e.status
        except (KeyError, TypeError, ValueError) as e:
            # JSON of another shape: another program at that address, or a service of another version
            where = client.connection.url if client else "the given address"
            print(f"npuhub: the answer from {where} is not what this npuhub ({__version__}) expects "
                  f"({type(e).__name__}: {e}); is it the hub's address, and the same npuhub version?", file=sys.stderr)
            return 1
        except BrokenPipeError:
            # the reader went away (`npuhub queue | head -1`): not an error worth a traceback
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (replaces the closed stdout until exit)
            return 0
        except KeyboardInterrupt:
            return 130

    run.__name__ = handler.__name__
    return run


def _json_out(args: argparse.Namespace, data) -> bool:
    """Print ``data`` as JSON when asked to; says whether it did."""
    if not getattr(args, "json", False):
        return False
    if data is not None:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    return True


# -- quota -------------------------------------------------------------------------------------------------
def _accounts_table(accounts: list[dict]) -> str:
    rows = []
    for a in accounts:
        balance = render.device_hours(a["balance"]) + ("  (spent)" if a.get("spent") else "")
        rows.append([a["name"], balance, render.device_hours(a.get("grant_per_period")),
                     render.device_hours(a.get("cap")), a.get("period"), render.local_time(a.get("renews_at"))])
    return render.table(["ACCOUNT", "BALANCE", "GRANT", "CAP", "PERIOD", "RENEWS"], rows)


def quota_show(args, client: ServiceClient) -> int:
    if args.account:
        account = client.get(f"/accounts/{segment(args.account)}")
        if not _json_out(args, account):
            print(_accounts_table([account]))
        return 0
    me = client.get("/me")
    if _json_out(args, me):
        return 0
    if me["accounts"]:
        print(_accounts_table(me["accounts"]))
        print("\nDevice-hours. Another account: npuhub quota show user:NAME (or group:NAME).")
    else:
        print(f"No budget applies to {me['user']}. Another account: npuhub quota show user:NAME (or group:NAME).")
    return 0


def quota_ledger(args, client: ServiceClient) -> int:
    answer = client.get("/ledger", account=args.account, limit=args.limit)
    if _json_out(args, answer):
        return 0
    entries = answer["entries"]
    if not entries:
        print(f"No ledger entries for {args.account}.")
        return 0
    with_request = any(e.get("request") for e in entries)
    rows = []
    for e in entries:
        row = [e["id"], render.local_time(e["at"]), e["kind"], render.device_hours(e["amount"], signed=True),
               render.device_hours(e["before"]), render.device_hours(e["after"]), e.get("actor"), e.get("reason")]
        if with_request:
            row.insert(-1, e.get("request"))
        rows.append(row)
    headers = ["ENTRY", "WHEN", "KIND", "AMOUNT", "BEFORE", "AFTER", "BY", "WHY"]
    if with_request:
        headers.insert(-1, "REQUEST")
    print(render.table(headers, rows, right=[0, 3, 4, 5]))
    print(f"\n{args.account}, in device-hours, newest first.")
    return 0


def quota_adjust(args, client: ServiceClient) -> int:
    entry = client.post(f"/accounts/{segment(args.account)}/adjustments",
                        {"device_hours": args.device_hours, "reason": args.reason})
    if _json_out(args, entry):
        return 0
    print(f"{entry['account']}: {render.device_hours(entry['amount'], signed=True)} device-hours, "
          f"{render.device_hours(entry['before'])} -> {render.device_hours(entry['after'])} "
          f"(ledger entry {entry['id']}, by {entry['actor']}: {entry['reason']})")
    return 0


# -- reservations ----------------------------------------------------------------------------------------
def _reservation_state(r: dict) -> str:
    ends = render.parse_time(r["ends"])
    if r["active"]:
        return "active, unused lent" if r.get("lent") else "active"
    if ends is not None and ends <= dt.datetime.now(dt.UTC):
        return "ended"
    return "upcoming"


def reserve_list(args, client: ServiceClient) -> int:
    answer = client.get("/reservations")
    if _json_out(args, answer):
        return 0
    reservations = answer["reservations"]
    if not reservations:
        print("No reservations you may see.")
        return 0
    rows = [[r["id"], r["group"], r["flavor"], r["count"], render.window(r["starts"], r["ends"]),
             _reservation_state(r), r.get("held", 0), r.get("in_use", 0), r.get("created_by")]
            for r in reservations]
    print(render.table(["RESERVATION", "GROUP", "FLAVOR", "SLICES", "WHEN", "STATE", "HELD", "IN USE", "BY"],
                       rows, right=[3, 6, 7]))
    return 0


def reserve_create(args, client: ServiceClient) -> int:
    body = {"group": args.group, "flavor": args.flavor, "count": args.count, "starts": args.start, "ends": args.end}
    if args.hold is not None:
        body["hold_seconds"] = args.hold * 60
    r = client.post("/reservations", body)
    if _json_out(args, r):
        return 0
    print(f"Reserved {r['count']} x {r['flavor']} for {r['group']}, {render.window(r['starts'], r['ends'])}: "
          f"reservation {r['id']}.")
    print(f"Slices its members leave unused are lent to others {render.duration(r['hold_seconds'])} after the start.")
    return 0


def reserve_cancel(args, client: ServiceClient) -> int:
    client.delete(f"/reservations/{segment(args.reservation)}")
    if not getattr(args, "json", False):
        print(f"Reservation {args.reservation} ended; the slices it held are free.")
    return 0


# -- the queue and the pool --------------------------------------------------------------------------------
def queue_show(args, client: ServiceClient) -> int:
    answer = client.get("/queue")
    if args.model:
        answer["queue"] = [e for e in answer["queue"] if e.get("model") == args.model]
        answer["length"] = len(answer["queue"])
    if _json_out(args, answer):
        return 0
    entries = answer["queue"]
    if not entries:
        print(f"No one is waiting{' for ' + args.model if args.model else ''}.")
        return 0
    rows = []
    for e in entries:
        who = e.get("user") or "(someone)"
        if e.get("mine"):
            who += " (you)"
        eta = "unknown"
        if e.get("eta") is not None:
            eta = f"{render.clock(e['eta'])} (in about {render.duration(e.get('eta_seconds') or 0)})"
        flavor = e["flavor"] + (" (reserved)" if e.get("reserved") else "")
        rows.append([e["position"], who, flavor, e.get("model"), render.since(e["arrived"]), eta, e.get("id")])
    print(render.table(["#", "WHO", "FLAVOR", "MODEL", "WAITED", "ESTIMATED START", "REQUEST"], rows, right=[0]))
    if any(e.get("user") is None for e in entries):
        print("\nNames are shown for your own requests and those of the groups you teach.")
    return 0


def queue_cancel(args, client: ServiceClient) -> int:
    path = f"/requests/{segment(args.request)}"
    req = client.get(path)
    if req["state"] == "granted":
        raise CommandError(f"npuhub: request {req['id']} of {req['user']} is not waiting: it holds "
                           f"{req['share']} {req.get('model') or ''} since {render.local_time(req.get('granted_at'))}. "
                           "It ends when its server stops (the hub's Admin page stops servers).")
    if req["state"] == "waiting":
        req = client.delete(path)
        done = f"Request {req['id']} of {req['user']} ({req['flavor']}) left the queue."
    else:
        done = f"Request {req['id']} of {req['user']} had already ended ({req['state']})."
    if not _json_out(args, req):
        print(done)
    return 0


def _bar(used: Fraction, cells: int = 8) -> str:
    full = round(used * cells)
    return "[" + "#" * full + "." * (cells - full) + "]"


def pool_show(args, client: ServiceClient) -> int:
    pool = client.get("/pool")
    if _json_out(args, pool):
        return 0
    rows = [[m["model"], m.get("vendor"), m["capacity"], m["held"], m["free"], m.get("reserved", "0"),
             m.get("waiting", 0)] for m in pool["models"]]
    print(render.table(["MODEL", "VENDOR", "DEVICES", "HELD", "FREE", "RESERVED", "WAITING"], rows,
                       right=[2, 3, 4, 5, 6]))
    rows = []
    for node in pool["nodes"]:
        state = node.get("state", "schedulable")
        for d in node["devices"]:
            rows.append([node["name"], node["model"], state, d["index"], d["used"], d["free"],
                         _bar(Fraction(d["used"])) + (" draining" if d.get("draining") else "")])
    if rows:
        print()
        print(render.table(["NODE", "MODEL", "STATE", "DEVICE", "USED", "FREE", ""], rows, right=[3, 4, 5]))
    print("\nIn devices; RESERVED is held for reservations and counted in HELD.")
    for node in pool["nodes"]:
        if node.get("state") == "cordoned":
            held = node.get("requests") or []
            print(f"\nNode {node['name']} is cordoned (or not ready): it takes no new grant; "
                  f"{len(held)} session(s) keep running on it{': ' + ', '.join(held) if held else ''}.")
    for lost in pool.get("lost_nodes") or []:
        ended = lost.get("requests") or []
        print(f"\nNode {lost['name']} left the cluster at {render.local_time(lost.get('lost_at'))}: "
              f"{len(ended)} grant(s) on it ended with reason node_lost{': ' + ', '.join(ended) if ended else ''}.",
              file=sys.stderr)
    store = pool.get("store") or {}
    if not store.get("available", True):
        print(f"\nThe admission database has been unreachable since {render.local_time(store.get('down_since'))}: "
              "nothing can be granted until it answers.", file=sys.stderr)
    return 0


# -- the parsers ---------------------------------------------------------------------------------------------
def _leaf(actions, name: str, handler: Handler, common, **kwargs) -> argparse.ArgumentParser:
    parser = actions.add_parser(name, parents=[common], **kwargs)
    parser.set_defaults(func=_runner(handler))
    return parser


def add_commands(commands) -> None:
    """Add ``quota``, ``reserve``, ``queue`` and ``pool`` to the ``npuhub`` command's subparsers."""
    common = _connection_options()
    over_api = ("It calls the npuhub service's API with your hub token; what you may see and change follows your "
                "roles' scopes.")

    quota = commands.add_parser(
        "quota", help="budgets in device-hours: balances, the ledger, adjustments",
        description="Device-hour budgets: how much is left and when it renews, every change in the ledger, and "
                    "adjustments by the centre's staff. " + over_api)
    actions = quota.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    show = _leaf(actions, "show", quota_show, common, help="balances and when they renew",
                 description="Show an account's balance in device-hours and when it renews; without ACCOUNT, "
                             "the accounts your own sessions draw on (yours and your groups').")
    show.add_argument("account", nargs="?", type=_account, metavar="ACCOUNT",
                      help="user:NAME or group:NAME (a bare NAME is user:NAME)")
    ledger = _leaf(actions, "ledger", quota_ledger, common, help="an account's ledger, newest first",
                   description="Every grant, renewal, charge and adjustment of an account, with the balance before "
                               "and after, who made it and why.")
    ledger.add_argument("account", type=_account, metavar="ACCOUNT",
                        help="user:NAME or group:NAME (a bare NAME is user:NAME)")
    ledger.add_argument("--limit", type=_limit, default=20, metavar="N",
                        help="how many entries, newest first (default: %(default)s)")
    adjust = _leaf(actions, "adjust", quota_adjust, common, help="add or take away device-hours (operators)",
                   description="Add device-hours to an account, or take them away, exactly: 2, +2, -1/2, 1.5. "
                               "The change is a ledger entry with your name and the reason. Needs "
                               "custom:npuhub:operate.")
    # Before Python 3.13 argparse takes "-1/2" for an unknown option; an amount may be written as it is.
    adjust._negative_number_matcher = re.compile(r"^-[0-9]+([./][0-9]+)?$")
    adjust.add_argument("account", type=_account, metavar="ACCOUNT",
                        help="user:NAME or group:NAME (a bare NAME is user:NAME)")
    adjust.add_argument("device_hours", type=_hours, metavar="DEVICE_HOURS",
                        help="device-hours to add (negative: to take away), e.g. +2 or -1/2")
    adjust.add_argument("--reason", required=True, metavar="TEXT", help="why; kept in the ledger")

    reserve = commands.add_parser(
        "reserve", help="hold slices for a group in a time window",
        description="Reservations: slices of a flavor held for a course or lab in a time window; its members are "
                    "placed on them first. A teacher manages her group's, operators everyone's. " + over_api)
    actions = reserve.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    _leaf(actions, "list", reserve_list, common, help="reservations you may see",
          description="List the reservations of your groups and of the groups you teach (operators: all).")
    create = _leaf(actions, "create", reserve_create, common, help="reserve slices for a group",
                   description="Hold COUNT slices of FLAVOR for GROUP from START to END. Times are ISO 8601; "
                               "without a time zone they are local time; 'now' is now.")
    create.add_argument("--group", required=True, metavar="G", help="the course or lab")
    create.add_argument("--flavor", required=True, metavar="F", help="a flavor of the site file, e.g. npu-quarter")
    create.add_argument("--count", required=True, type=_count, metavar="N", help="how many slices")
    create.add_argument("--start", required=True, type=_moment, metavar="ISO", help="when it starts")
    create.add_argument("--end", required=True, type=_moment, metavar="ISO", help="when it ends")
    create.add_argument("--hold", type=_minutes, metavar="MINUTES",
                        help="how long unused slices stay held after the start before they are lent to others "
                             "(default: the service's, 10)")
    cancel = _leaf(actions, "cancel", reserve_cancel, common, help="end a reservation",
                   description="End a reservation now; the slices it held are free at once.")
    cancel.add_argument("reservation", metavar="ID", help="the reservation's id (npuhub reserve list)")

    queue = _leaf(commands, "queue", queue_show, common, help="who waits for what, and when they should start",
                  description="The waiting requests in the order they will be served: position (among requests "
                              "for the same device model), who (your own and your taught groups' names only), "
                              "flavor, time waited and estimated start. " + over_api)
    queue.add_argument("--model", metavar="M", help="only requests for this device model, e.g. 'Ascend 910B'")
    actions = queue.add_subparsers(dest="action", metavar="[cancel]")  # optional: without it, the queue
    cancel = _leaf(actions, "cancel", queue_cancel, common, help="withdraw a waiting request",
                   description="Take a waiting request out of the queue (yours, your taught groups' members', or "
                               "anyone's for operators). A request that already holds a slice is not touched.")
    cancel.add_argument("request", metavar="REQUEST_ID", help="the request's id (npuhub queue shows it)")

    from .announce import add_announce
    from .workshop import add_workshop

    add_announce(commands, _leaf, common, _moment)
    add_workshop(commands, _leaf, common, _moment)

    _leaf(commands, "pool", pool_show, common, help="occupancy of the pool by device model, node and device",
          description="How much of each device model is held, free, reserved and waited for, and how full each "
                      "device is. " + over_api)
