"""The admin command line's own parts, without a service: its arguments, its connection, how it prints."""

from __future__ import annotations

import datetime as dt
import re

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


# -- the service's answers, read the way people need (issues 9 and 10) --------------------------------------
from urllib.parse import unquote  # noqa: E402

from support.scripted_http import Answer, ScriptedServer  # noqa: E402

from npuhub.admincli.client import CommandError, ServiceClient, segment  # noqa: E402
from npuhub.admincli.language import language_from, pick  # noqa: E402

POOL = {"models": [], "nodes": []}


def client_for(url: str, lang: str = "en", restart_wait: float = 30.0, notices: list | None = None) -> ServiceClient:
    conn = connection_from(url, "t", {}, lang=lang, restart_wait=restart_wait)
    return ServiceClient(conn, on_wait=None if notices is None else notices.append)


def test_the_proxys_page_while_the_service_restarts_is_waited_out():
    with ScriptedServer(Answer.hub_page(503), Answer.hub_page(502), Answer.json(200, POOL)) as server:
        notices: list[str] = []
        assert client_for(server.url, notices=notices).get("/pool") == POOL
    assert server.asked == [("GET", "/services/npuhub/api/v1/pool")] * 3
    assert notices == ["npuhub: The npuhub service is restarting; trying again…"]  # said once, not per attempt


def test_a_service_that_does_not_come_back_is_said_in_the_persons_language(monkeypatch, capsys):
    with ScriptedServer(Answer.hub_page(503)) as server:
        with pytest.raises(CommandError) as refused:
            client_for(server.url, restart_wait=1.5).get("/pool")
        assert refused.value.reason == "service_restarting"
        assert "The npuhub service is restarting" in refused.value.text
        assert "did not come back within 2 s" in refused.value.text
        assert len(server.asked) >= 2  # it did try again
        # the whole command, as a person runs it: exit 1, the sentence in her language, no traceback
        monkeypatch.setenv("NPUHUB_RESTART_WAIT", "1")
        for name in ("LC_ALL", "LC_MESSAGES"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("LANG", "zh_CN.UTF-8")
        args = parse("pool", "--url", server.url, "--token", "t")
        assert args.func(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("npuhub: npuhub 服务正在重启，请稍候…") and "秒内没有恢复" in err
    assert "Traceback" not in err and "html" not in err.lower()


def test_the_services_own_503_is_not_taken_for_a_restart():
    body = {"error": "数据库不可用 / The admission database is unreachable", "reason": "store_unavailable",
            "message": {"zh": "数据库不可用", "en": "The admission database is unreachable"}}
    with ScriptedServer(Answer.json(503, body)) as server:
        with pytest.raises(CommandError) as refused:
            client_for(server.url).get("/pool")
    assert len(server.asked) == 1
    assert (refused.value.text, refused.value.reason) == ("npuhub: The admission database is unreachable",
                                                          "store_unavailable")


def test_the_hubs_own_json_error_is_not_taken_for_the_service():
    with ScriptedServer(Answer.json(503, {"status": 503, "message": "Service Unavailable"})) as server:
        with pytest.raises(CommandError) as refused:
            client_for(server.url, restart_wait=0).get("/pool")
    assert refused.value.reason == "service_restarting"


def test_a_change_is_not_sent_again_when_the_proxy_cannot_say_whether_it_was_made():
    with ScriptedServer(Answer.hub_page(504), Answer.json(201, {"id": "l-1"})) as server:
        with pytest.raises(CommandError) as refused:
            client_for(server.url).post("/accounts/user:a/adjustments", {"device_hours": "1", "reason": "r"})
    assert len(server.asked) == 1
    assert "may or may not have been made" in refused.value.text


@pytest.mark.parametrize(("lang", "shown"), [("zh", "npuhub: 您没有权限。"), ("en", "npuhub: You are not allowed.")])
def test_refusals_are_shown_in_one_language(lang, shown):
    new = {"error": "您没有权限。 / You are not allowed.", "reason": "permission_denied",
           "message": {"zh": "您没有权限。", "en": "You are not allowed."}}
    with ScriptedServer(Answer.json(409, new)) as server:
        with pytest.raises(CommandError) as refused:
            client_for(server.url, lang=lang).get("/pool")
    assert refused.value.text == shown and refused.value.reason == "permission_denied"


def test_a_service_before_npuhub_0_2_is_still_understood():
    old = {"error": "您没有权限。 / You are not allowed.", "reason": "share_limit"}
    with ScriptedServer(Answer.json(409, old)) as server:
        with pytest.raises(CommandError) as refused:
            client_for(server.url, lang="zh").get("/pool")
    assert refused.value.text == "npuhub: 您没有权限。 / You are not allowed."
    assert pick("中 / en", "en") == "中 / en" and pick({"zh": "中", "en": "en"}, "zh") == "中"
    assert pick({"zh": "中"}, "en") == "中" and pick(None, "en") is None


def test_the_language_follows_the_locale_and_the_option():
    assert language_from({"LANG": "zh_CN.UTF-8"}) == "zh"
    assert language_from({"LANG": "zh_CN.UTF-8", "LC_ALL": "C.UTF-8"}) == "en"  # LC_ALL wins, as in POSIX
    assert language_from({"LC_MESSAGES": "zh_TW"}) == "zh" and language_from({}) == "en"
    assert parse("pool", "--lang", "zh").lang == "zh"
    with pytest.raises(SystemExit):
        parse("pool", "--lang", "fr")


def test_names_in_paths_are_url_encoded():
    name = "user:张 三?#%/x"
    quoted = segment(name)
    assert unquote(quoted) == name and not set(" ?#/") & set(quoted)
    with ScriptedServer(Answer.json(200, {"name": name})) as server:
        client_for(server.url).get(f"/accounts/{segment('user:a b')}", at="x y")
    assert server.asked == [("GET", "/services/npuhub/api/v1/accounts/user:a%20b?at=x+y")]


@pytest.mark.parametrize(("exact", "shown"), [("-1/7200000000000", "~0"), ("1/7200000000000", "~0"), ("-0", "0")])
def test_device_hours_never_read_minus_zero(exact, shown):
    assert render.device_hours({"device_hours": 0, "exact": exact}) == shown


def test_a_share_of_1_120_is_shown_as_a_fraction(capsys):
    pool = {"models": [{"model": "Ascend 910B", "vendor": "ascend", "capacity": "1", "held": "1/120",
                        "free": "119/120", "reserved": "0", "waiting": 0}],
            "nodes": [{"name": "n0", "model": "Ascend 910B",
                       "devices": [{"index": 0, "used": "1/120", "free": "119/120"}]}]}
    granted = {"id": "r-1", "user": "s1", "state": "granted", "share": "1/120", "model": "Ascend 910B",
               "granted_at": None}
    with ScriptedServer(Answer.json(200, pool)) as server:
        args = parse("pool", "--url", server.url, "--token", "t")
        assert args.func(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^Ascend 910B\s+ascend\s+1\s+1/120\s+119/120\s", out, re.MULTILINE), out
    assert re.search(r"^n0\s+Ascend 910B\s+schedulable\s+0\s+1/120\s+119/120\s+\[\.{8}\]$", out, re.MULTILINE), out
    with ScriptedServer(Answer.json(200, granted)) as server:
        args = parse("queue", "cancel", "r-1", "--url", server.url, "--token", "t")
        assert args.func(args) == 1
    assert "it holds 1/120 Ascend 910B" in capsys.readouterr().err
