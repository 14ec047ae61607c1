"""``npuhub announce``: post, list and remove the banners shown on the hub's pages and in JupyterLab."""

from __future__ import annotations

import argparse

from . import render
from .client import ServiceClient, segment

__all__ = ["add_announce"]


def announce_list(args, client: ServiceClient) -> int:
    query = {"upcoming": "true"}
    if getattr(args, "everyone", False):
        query["everyone"] = "true"
    answer = client.get("/announcements", **query)
    if getattr(args, "json", False):
        import json

        print(json.dumps(answer, indent=2, ensure_ascii=False))
        return 0
    items = answer["announcements"]
    if not items:
        print("No announcements now or to come.")
        return 0
    rows = [[a["id"], a["scope"], render.window(a["starts"], a["ends"]), a["author"],
             a["text"]["zh"] if a["text"]["zh"] == a["text"]["en"] else f"{a['text']['zh']} / {a['text']['en']}"]
            for a in items]
    print(render.table(["ANNOUNCEMENT", "FOR", "WHEN", "BY", "TEXT"], rows))
    return 0


def announce_post(args, client: ServiceClient) -> int:
    text = {"zh": args.zh or "", "en": args.en or ""}
    body = {"text": text, "ends": args.end, "scope": "all" if args.everyone else f"group:{args.group}"}
    if args.start:
        body["starts"] = args.start
    a = client.post("/announcements", body)
    if getattr(args, "json", False):
        import json

        print(json.dumps(a, indent=2, ensure_ascii=False))
        return 0
    print(f"Announcement {a['id']} for {a['scope']}, {render.window(a['starts'], a['ends'])}.")
    return 0


def announce_remove(args, client: ServiceClient) -> int:
    client.delete(f"/announcements/{segment(args.announcement)}")
    if not getattr(args, "json", False):
        print(f"Announcement {args.announcement} removed; the hub's pages drop it within 10 seconds.")
    return 0


def add_announce(commands, leaf, common, moment) -> None:
    """Add ``npuhub announce list|post|remove`` (``leaf``, ``common``, ``moment``: commands.py's helpers)."""
    announce = commands.add_parser(
        "announce", help="banners on the hub's pages and in JupyterLab",
        description="Announcements: a banner with a start and an end, for a course (its teacher) or for "
                    "everyone (operators). It calls the npuhub service's API with your hub token.")
    actions = announce.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = leaf(actions, "list", announce_list, common, help="announcements shown now or to come",
                   description="The announcements for you and the courses you teach (operators with "
                               "--everyone: all), those still to come included.")
    listing.add_argument("--everyone", action="store_true", help="every announcement (operators)")
    post = leaf(actions, "post", announce_post, common, help="post a banner",
                description="Post a banner for GROUP (or --everyone) until END. Give the text in Chinese "
                            "(--zh), English (--en) or both; one alone is shown to every reader.")
    scope = post.add_mutually_exclusive_group(required=True)
    scope.add_argument("--group", metavar="G", help="the course it is for")
    scope.add_argument("--everyone", action="store_true", help="for everyone (operators)")
    post.add_argument("--zh", metavar="TEXT", help="the text in Chinese")
    post.add_argument("--en", metavar="TEXT", help="the text in English")
    post.add_argument("--start", type=moment, metavar="ISO", help="when it starts showing (default: now)")
    post.add_argument("--end", required=True, type=moment, metavar="ISO", help="when it stops showing")
    remove = leaf(actions, "remove", announce_remove, common, help="stop showing a banner",
                  description="Remove an announcement (its author, the course's teacher, or operators).")
    remove.add_argument("announcement", metavar="ID", help="the announcement's id (npuhub announce list)")
