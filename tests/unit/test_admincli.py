"""The admin command line's own parts, without a service: its arguments, its connection, how it prints."""

from __future__ import annotations

import datetime as dt

import pytest

from npuhub.admincli import render
from npuhub.admincli.client import connection_from
from npuhub.cli import build_parser


def parse(*argv: str):
    return build_parser().parse_args(argv)


def test_amounts_are_written_as_people_write_them():
    assert parse("quota", "adjust", "user:student1", "-1/2", "--reason", "r").device_hours == "-1/2"
    assert parse("quota", "adjust", "student1", "+2", "--reason", "r").device_hours == "2"
    assert parse("quota", "adjust", "student1", "--reason", "r", "-1.5").device_hours == "-1.5"
    assert parse("quota", "adjust", "student1", "1", "--reason", "r").account == "user:student1"


@pytest.mark.parametrize("amount", ["0", "-0/3", "two", "1/0", "1e3"])
def test_amounts_that_are_not_device_hours_are_refused_before_calling(amount, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse("quota", "adjust", "user:student1", amount, "--reason", "r")
    assert exit_.value.code == 2
    assert "is not a non-zero number of device-hours like 2, -1/2 or 1.5" in capsys.readouterr().err


def test_reservation_times_without_a_zone_are_local():
    args = parse("reserve", "create", "--group", "g", "--flavor", "f", "--count", "2",
                 "--start", "2026-05-04T09:00+08:00", "--end", "2026-05-04T11:00", "--hold", "5")
    assert args.start == "2026-05-04T01:00:00Z"
    local = dt.datetime(2026, 5, 4, 11, 0).astimezone().astimezone(dt.UTC)
    assert args.end == local.isoformat().replace("+00:00", "Z") and args.hold == 5


def test_options_before_a_subcommand_are_kept():
    args = parse("queue", "--json", "--url", "http://hub:8000", "cancel", "r-1")
    assert args.json and args.url == "http://hub:8000" and args.request == "r-1"
    assert args.func.__name__ == "queue_cancel"
    assert parse("queue", "--model", "Ascend 910B").func.__name__ == "queue_show"


def test_the_token_comes_from_the_option_then_npuhub_then_the_servers_own():
    env = {"NPUHUB_TOKEN": "mine", "JUPYTERHUB_API_TOKEN": "server", "NPUHUB_URL": "https://hub.example.edu/jupyter/"}
    conn = connection_from(None, None, env)
    assert (conn.token, conn.token_source) == ("mine", "$NPUHUB_TOKEN")
    assert conn.api == "https://hub.example.edu/jupyter/services/npuhub/api/v1"
    assert connection_from(None, "given", env).token_source == "--token"
    conn = connection_from("http://127.0.0.1:8000/services/npuhub/", None, {"JUPYTERHUB_API_TOKEN": "server"})
    assert (conn.api, conn.token_source) == ("http://127.0.0.1:8000/services/npuhub/api/v1", "$JUPYTERHUB_API_TOKEN")
    assert connection_from(None, None, {}).token is None


@pytest.mark.parametrize(("exact", "shown"), [
    ("3", "3"), ("1/2", "1/2 (0.5)"), ("-1/3", "-1/3 (-0.3333)"), ("7/40", "0.175"),
    ("-37/14400", "~-0.0026"), ("-1/28800", "~-0.000035"),
])
def test_device_hours_are_exact_where_it_reads_well(exact, shown):
    assert render.device_hours({"device_hours": 0, "exact": exact}) == shown


def test_tables_align_chinese_text_by_its_width():
    lines = render.table(["WHO", "WHY", "N"], [["学生", "项目", 1], ["student10", None, 100]], right=[2]).splitlines()
    assert lines == ["WHO        WHY     N", "学生       项目    1", "student10  -     100"]


def test_times_say_how_far_away_they_are():
    now = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
    assert render.local_time("2026-05-04T11:05:00Z", now).endswith("(in 2 h 5 min)")
    assert render.local_time("2026-05-04T08:59:20Z", now).endswith("(40 s ago)")
    assert render.window("2026-05-04T08:00:00Z", "2026-05-04T10:00:00Z", now).endswith("(ends in 1 h)")
    assert render.since("2026-05-01T09:00:00Z", now) == "3 d"
