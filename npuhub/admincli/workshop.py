"""``npuhub workshop``: a teacher makes a workshop, lists hers, follows its participants, ends it.

These call the hub's workshop API (``/hub/api/npuhub/workshops``), which the
teacher's page uses too, with the same token and options as the other commands.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from . import render
from .client import CommandError, ServiceClient, segment

__all__ = ["add_workshop"]

#: The hub's workshop API below the hub's address.
HUB_API = "/hub/api/npuhub"


def _hub(client: ServiceClient) -> ServiceClient:
    """The same person's calls, to the hub's workshop API instead of the service's."""
    conn = client.connection
    return ServiceClient(dataclasses.replace(conn, api=conn.url.rstrip("/") + HUB_API), client.on_wait)


def _json(args, data) -> bool:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return True
    return False


def workshop_list(args, client: ServiceClient) -> int:
    answer = _hub(client).get("/workshops")
    if _json(args, answer):
        return 0
    items = answer["workshops"]
    if not items:
        print("No workshops of the courses you teach.")
        return 0
    rows = [[w["code"], w["group"], render.window(w["starts_at"], w["ends_at"]), w["state"], w["roster"],
             f"{w['guests']}" + (f"/{w['max_guests']}" if w["max_guests"] else ""),
             f"{w['reserved_count']} x {w['flavor_id']}" if w["reserved_count"] else "-", w["created_by"]]
            for w in items]
    print(render.table(["CODE", "COURSE", "WHEN", "STATE", "ROSTER", "GUESTS", "RESERVED", "BY"], rows,
                       right=[4, 5]))
    return 0


def workshop_create(args, client: ServiceClient) -> int:
    body = {"group": args.group, "ends_at": args.end, "flavor": args.flavor or "", "reserve": args.reserve or "",
            "materials_repo": args.materials or "", "materials_branch": args.branch or "",
            "materials_path": args.open or "", "budget_hours": args.budget or "", "max_guests": args.max_guests or ""}
    if args.start:
        body["starts_at"] = args.start
    if args.roster:
        try:
            body["roster"] = Path(args.roster).read_text(encoding="utf-8-sig")
        except OSError as e:
            raise CommandError(f"npuhub: cannot read the roster {args.roster}: {e.strerror}", 2) from None
    w = _hub(client).post("/workshops", body)
    if _json(args, w):
        return 0
    print(f"Workshop {w['code']} for {w['group']}, {render.window(w['starts_at'], w['ends_at'])}: "
          f"{w['roster']} on the roster.")
    print(f"Guests join at {w['join_url']}")
    if w["reserved_count"]:
        print(f"Reserved {w['reserved_count']} x {w['flavor_id']} from the start (reservation {w['reservation_id']}).")
    if w["materials"]:
        print(f"Materials: {w['materials']['repo']} ({w['materials']['branch']}); link: "
              f"{client.connection.url.rstrip('/')}{w['materials']['link']}")
    return 0


def workshop_show(args, client: ServiceClient) -> int:
    w = _hub(client).get(f"/workshops/{segment(args.code)}")
    if _json(args, w):
        return 0
    s = w["summary"]
    counts = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in s["counts"].items() if n)
    print(f"Workshop {w['code']} for {w['group']}, {render.window(w['starts_at'], w['ends_at'])}, {w['state']}: "
          f"{s['participants']} participants ({counts or 'none'}).")
    budget = f" of {s['budget_device_hours']:g}" if s["budget_device_hours"] is not None else ""
    print(f"Device-hours used since the start: {s['device_hours_used']:.2f}{budget}.")
    rows = [[p["name"], p["kind"], p["state"].replace("_", " "), p["running"], p["queued"],
             p["last_activity"] or "-", f"{p['device_hours']:.2f}", "yes" if p["on_reservation"] else ""]
            for p in w["participants"]]
    if rows:
        print(render.table(["PARTICIPANT", "KIND", "STATE", "RUNNING", "QUEUED", "LAST ACTIVE", "DEVICE-HOURS",
                            "RESERVED"], rows, right=[3, 4, 6]))
    return 0


def workshop_end(args, client: ServiceClient) -> int:
    _hub(client).delete(f"/workshops/{segment(args.code)}")
    if not getattr(args, "json", False):
        print(f"Workshop {args.code} ended: its reservation is free, its guests are removed within a minute.")
    return 0


def add_workshop(commands, leaf, common, moment) -> None:
    """Add ``npuhub workshop list|create|show|end`` (``leaf``, ``common``, ``moment``: commands.py's helpers)."""
    workshop = commands.add_parser(
        "workshop", help="workshops: roster, reserved slices, materials, participants",
        description="A workshop of a course: a roster, guests with a code, slices reserved from its start, "
                    "materials pulled into each server, a budget. It calls the hub's workshop API with your hub "
                    "token; a teacher manages her courses' workshops, operators every one.")
    actions = workshop.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    leaf(actions, "list", workshop_list, common, help="the workshops of the courses you teach",
         description="Your courses' workshops (operators: all), newest first.")
    create = leaf(actions, "create", workshop_create, common, help="make a workshop",
                  description="Make a workshop of GROUP until END. Times are ISO 8601; without a time zone they "
                              "are local time.")
    create.add_argument("--group", required=True, metavar="G", help="the course")
    create.add_argument("--start", type=moment, metavar="ISO", help="when it starts (default: now)")
    create.add_argument("--end", required=True, type=moment, metavar="ISO", help="when it ends")
    create.add_argument("--roster", metavar="CSV", help="a CSV of university IDs (first column), or one per line")
    create.add_argument("--flavor", metavar="F", help="the flavor guests get, and the one reserved")
    create.add_argument("--reserve", type=int, metavar="N", help="slices of --flavor held from the start")
    create.add_argument("--materials", metavar="GIT_URL", help="a git repository pulled into each server")
    create.add_argument("--branch", metavar="B", help="its branch (default: main)")
    create.add_argument("--open", metavar="PATH", help="where JupyterLab opens after the pull, e.g. "
                                                       "lab/tree/ai101/lesson1.ipynb")
    create.add_argument("--budget", metavar="DEVICE_HOURS", help="the device-hours planned for the window")
    create.add_argument("--max-guests", type=int, metavar="N", help="the most guests with the code")
    show = leaf(actions, "show", workshop_show, common, help="participants: signed in, queued, running, idle, usage",
                description="Each participant (roster and guests) with her state, servers and device-hours.")
    show.add_argument("code", metavar="CODE", help="the workshop's code (npuhub workshop list)")
    end = leaf(actions, "end", workshop_end, common, help="end a workshop now",
               description="Revoke the code now: its reservation ends and its guests are removed.")
    end.add_argument("code", metavar="CODE", help="the workshop's code")
