"""Least privilege: OpsCore runs as the README's ACL user (below); a missing
permission gives exit 77 naming the denied command and writes nothing; a
wrong password gives 77 and is printed nowhere, even at --log-level trace.

RELIABILITY_ACL_DROP=cmd,cmd leaves commands out of the ACL line, to see
these tests catch a missing one.
"""

import json
import os
import re
import secrets
import signal
import subprocess
import time

import pytest

from support.cli import opscore_argv
from support.keyspace import changed_keys, snapshot
from support.layout import register_agent, session_key

# The ACL line the README documents (PASS replaced by the password).
ACL_COMMANDS = ["ping", "time", "select", "watch", "multi", "exec", "discard",
                "hgetall", "hset", "hsetnx", "xadd", "xread", "xinfo", "xgroup", "xreadgroup", "xack",
                "xautoclaim", "xpending", "del", "exists", "sismember", "sadd", "srem",
                "smembers", "zadd", "zrem", "zrevrange", "zrangebyscore", "publish"]
NO_SESSION = "00000000-0000-4000-8000-000000000000"


def acl_rules(password, commands):
    """The rules of the README's ACL line for a password and a command list."""
    return ["reset", "on", f">{password}", "~opscore:*", "resetchannels", "&opscore:*", "-@all",
            *[f"+{command}" for command in commands]]


def denied_commands(text):
    """Command names in 'NOPERM … run the 'x' command' messages."""
    return set(re.findall(r"run the '([^']+)' command", text)) | set(re.findall(r"NOPERM[^\n]*?'([^']+)'", text))


def denial_hint(text):
    """A hint naming the commands a NOPERM message says were denied."""
    denied = denied_commands(text)
    return f" (missing from ACL: {', '.join(sorted(denied))})" if denied else ""


@pytest.fixture(scope="module")
def acl_server(module_harness, figures):
    """A redis-server with the user `opscore` as the README documents it."""
    server = module_harness.start_redis(name="acl")
    dropped = {c for c in os.environ.get("RELIABILITY_ACL_DROP", "").split(",") if c}
    server.commands = [c for c in ACL_COMMANDS if c not in dropped]
    server.password = "pw-" + secrets.token_hex(12)
    admin = server.client()
    admin.execute_command("ACL", "SETUSER", "opscore", *acl_rules(server.password, server.commands))
    admin.acl_log_reset()
    acl_line = " ".join(["ACL", "SETUSER", "opscore", *acl_rules("PASS", server.commands)])
    figures.record("least_privilege", acl_line=repr(acl_line))
    server.user_url = server.url_for("opscore", server.password)
    return server


class CliSurface:
    """Runs every CLI command as the ACL user, noting each step and each failure."""

    def __init__(self, harness, url):
        self.harness, self.url = harness, url
        self.steps, self.problems = [], []

    def step(self, name, *args, want=0, url=None):
        result = self.harness.opscore(url or self.url, *args)
        self.steps.append(name)
        if result.rc != want:
            self.problems.append(f"{name}: {result.brief()}{denial_hint(result.error_text)}")
        return result if result.rc == want else None

    def run(self, db1_url):
        self.step("agent register", "agent", "register", "lp-a", "lp-b")
        listed = self.step("agent list", "agent", "list")
        if listed and {"lp-a", "lp-b"} - {o.get("agent_id") for o in listed.json_lines()}:
            self.problems.append(f"agent list: {listed.text!r}")
        self.step("agent remove", "agent", "remove", "lp-b")
        started = self.step("session start", "session", "start", "--agent", "lp-a", "--workflow", "w",
                            "--metadata", '{"a":1}')
        if started:
            self.session_commands(started.json()["session_id"])
        self.step("agent list on db 1", "agent", "list", url=db1_url)

    def session_commands(self, sid):
        self.step("session get", "session", "get", sid)
        self.step("session update", "session", "update", sid, "--status", "paused", "--metadata", '{"b":2}')
        listed = self.step("session list", "session", "list", "--agent", "lp-a")
        if listed and sid not in {o.get("session_id") for o in listed.json_lines()}:
            self.problems.append("session list did not show the session")
        self.step("session end", "session", "end", sid, "--status", "failed")
        # Refused changes end their transaction with DISCARD (only the ACL LOG
        # would show it denied).
        self.step("session end (already ended, refused)", "session", "end", sid, want=1)
        self.step("session delete", "session", "delete", sid)
        self.step("session update (deleted, refused)", "session", "update", sid, "--status", "paused", want=1)


def worker_surface(harness, url):
    """Every worker op as the ACL user, with the idle sweep on (ZRANGEBYSCORE + TIME)."""
    worker = harness.start_worker(url, "acl", concurrency=2,
                                  extra_args=["--expire-after", "3600", "--sweep-interval", "0.1"])
    replies = [worker.call({"id": "r", "op": "register_agent", "agent_id": "lp-w"}),
               worker.call({"id": "s", "op": "start", "agent_id": "lp-w", "workflow_id": "w", "metadata": {"x": 1}})]
    sid = (replies[-1] or {}).get("session", {}).get("session_id")
    if sid:
        for key, request in (("u", {"op": "update", "metadata": {"y": 2}}), ("g", {"op": "get"}),
                             ("e", {"op": "end"}), ("d", {"op": "delete"})):
            replies.append(worker.call({"id": key, "session_id": sid, **request}))
    time.sleep(0.3)     # let the sweeper run a few times
    return worker, sid, replies


@pytest.fixture(scope="module")
def acl_user_run(module_harness, acl_server, figures):
    """The ACL user runs the CLI surface, a worker and watch; then the ACL LOG is read."""
    url = acl_server.user_url
    watcher = module_harness.start_watcher(url, "acl")
    run = {"subscribed": watcher.wait_subscribed()}
    cli = CliSurface(module_harness, url)
    cli.run(acl_server.url_for("opscore", acl_server.password, db=1))
    worker, sid, replies = worker_surface(module_harness, url)
    run.update(cli=cli, worker_replies=replies, worker_rc=worker.finish(), worker_err=worker.stderr_text())
    run["consume"] = consume_surface(module_harness, url)
    run["deleted_event"] = watcher.wait_event(
        lambda e: e.get("session_id") == sid and e.get("type") == "session.deleted")
    run["events"] = len(watcher.events)
    watcher.stop()
    run["acl_log"] = acl_server.client().acl_log()
    figures.record("least_privilege", steps=len(cli.steps) + 2, watch_events=run["events"],
                   acl_log_denials=len(run["acl_log"]))
    return run


def test_acl_user_runs_every_cli_command(acl_user_run):
    """agent register/list/remove, session start/get/update/list/end/delete (and
    refused end/update), on database 0 and 1."""
    assert acl_user_run["cli"].problems == []


def test_acl_user_runs_a_worker_with_the_idle_sweep(acl_user_run):
    """register_agent/start/update/get/end/delete through a worker with
    --expire-after all succeed; the idle sweep never fails."""
    failures = [json.dumps(r)[:200] + denial_hint(json.dumps(r))
                for r in acl_user_run["worker_replies"] if not (r and r.get("ok"))]
    assert failures == []
    assert len(acl_user_run["worker_replies"]) == 6
    assert acl_user_run["worker_rc"] == 0
    assert "idle sweep failed" not in acl_user_run["worker_err"]


def test_acl_user_watches_events(acl_user_run):
    """`watch` as the ACL user subscribes and receives the worker's session.deleted."""
    assert acl_user_run["subscribed"], "watch as the ACL user did not subscribe"
    assert acl_user_run["deleted_event"], f"got {acl_user_run['events']} events, not the worker's session.deleted"


def consume_surface(harness, url):
    """`consume` as the ACL user: creates its group, handles the retained events
    (one failing run, claimed again and then acknowledged), exits 0 on SIGTERM."""
    marker = harness.directory / "lp-consume"
    argv = opscore_argv(harness.binary, url) + [
        "consume", "--group", "lp", "--from", "beginning", "--claim-after", "0.3",
        "--exec", f'if [ -e {marker} ]; then cat >/dev/null; else touch {marker}; exit 1; fi']
    with open(harness.directory / "lp-consume.err", "wb") as err:
        proc = harness.children.spawn(argv, stdout=subprocess.DEVNULL, stderr=err)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    return {"rc": proc.wait(timeout=10), "err": (harness.directory / "lp-consume.err").read_text()}


def test_acl_user_consumes_with_a_group(acl_user_run):
    """`consume` (XGROUP, XREADGROUP, XACK, XAUTOCLAIM, XPENDING) works as the ACL user."""
    assert acl_user_run["consume"]["rc"] == 0, acl_user_run["consume"]["err"]
    assert "NOPERM" not in acl_user_run["consume"]["err"], acl_user_run["consume"]["err"]


def test_acl_log_shows_no_denied_command(acl_user_run):
    """Nothing OpsCore sent was denied, not even a silent best-effort call."""
    entries = {f"{e.get('reason')}:{e.get('object')}" for e in acl_user_run["acl_log"]}
    assert sorted(entries) == [], "missing from the ACL line"


def user_without(acl_server, command):
    """A URL for a new user whose ACL is the README's line without `command`."""
    password = "pw-" + secrets.token_hex(12)
    user = f"opscore-no{command}"
    acl_server.client().execute_command(
        "ACL", "SETUSER", user, *acl_rules(password, [c for c in acl_server.commands if c != command]))
    return acl_server.url_for(user, password)


@pytest.fixture(scope="module")
def start_without_hset(module_harness, acl_server, figures):
    """`session start` as a user whose ACL lacks +hset, watched by a subscriber."""
    url = user_without(acl_server, "hset")
    admin = acl_server.client()
    register_agent(admin, "opscore", "lp-denied")
    before = snapshot(admin)
    subscription = acl_server.client().pubsub()
    subscription.subscribe("opscore:events")
    result = module_harness.opscore(url, "session", "start", "--agent", "lp-denied", "--workflow", "w")
    time.sleep(0.3)
    messages = drain_messages(subscription)
    subscription.close()
    run = {"result": result, "changed": changed_keys(before, snapshot(admin)), "messages": messages}
    figures.record("least_privilege", without_hset_exit=result.rc,
                   without_hset_message=repr(result.error_text.strip()[:90]),
                   without_hset_changed_keys=len(run["changed"]), without_hset_events=len(messages))
    return run


def drain_messages(subscription):
    """Every message the subscription has received so far."""
    messages = []
    while (message := subscription.get_message(ignore_subscribe_messages=True, timeout=0.1)) is not None:
        messages.append(message)
    return messages


def test_start_without_hset_exits_77_naming_noperm_and_hset(start_without_hset):
    """A missing permission is exit 77 with an error naming NOPERM and the command."""
    result = start_without_hset["result"]
    assert result.rc == 77, result.brief()
    assert result.error_text.startswith("error:") and "NOPERM" in result.error_text, result.brief()
    assert "hset" in result.error_text.lower(), result.brief()


def test_start_without_hset_writes_nothing(start_without_hset):
    """The refused start leaves every key as it was."""
    assert start_without_hset["changed"] == []


def test_start_without_hset_publishes_nothing(start_without_hset):
    """The refused start publishes no event."""
    assert start_without_hset["messages"] == []


@pytest.fixture(scope="module")
def update_without_multi(module_harness, acl_server, figures):
    """`session update` as a user whose ACL lacks +multi (a refused MULTI)."""
    url = user_without(acl_server, "multi")
    admin = acl_server.client()
    register_agent(admin, "opscore", "lp-multi")
    started = module_harness.opscore(acl_server.url, "session", "start", "--agent", "lp-multi", "--workflow", "w")
    assert started.rc == 0, started.brief()
    session_id = started.json()["session_id"]
    before = snapshot(admin)
    result = module_harness.opscore(url, "session", "update", session_id, "--metadata", '{"x":1}')
    run = {"result": result, "changed": changed_keys(before, snapshot(admin)),
           "hash": admin.hgetall(session_key("opscore", session_id))}
    figures.record("least_privilege", without_multi_exit=result.rc, without_multi_changed_keys=len(run["changed"]))
    return run


def test_update_without_multi_exits_77_naming_multi(update_without_multi):
    """A refused MULTI is a permission error naming MULTI."""
    result = update_without_multi["result"]
    assert result.rc == 77, result.brief()
    assert "NOPERM" in result.error_text and "multi" in result.error_text.lower(), result.brief()


def test_update_without_multi_writes_nothing_outside_a_transaction(update_without_multi):
    """No write is ever sent unless MULTI was accepted: the hash keeps version 1."""
    assert update_without_multi["changed"] == []
    assert update_without_multi["hash"][b"version"] == b"1"
    assert update_without_multi["hash"][b"metadata"] == b"{}"


WRONG_PASSWORD_RUNS = {
    "agent list": (("agent", "list"), None, 15),
    "session get (trace)": (("session", "get", NO_SESSION), "trace", 15),
    "session start (trace)": (("session", "start", "--agent", "lp-a", "--workflow", "w"), "trace", 15),
    "watch (trace)": (("watch",), "trace", 10),
}


@pytest.fixture(scope="module")
def wrong_password(acl_server):
    """A random wrong password and a URL of the ACL user with it."""
    secret = "wrong-" + secrets.token_hex(10)
    return secret, acl_server.url_for("opscore", secret)


@pytest.mark.parametrize("label", WRONG_PASSWORD_RUNS)
def test_wrong_password_exits_77_and_is_never_printed(module_harness, wrong_password, figures, label):
    """A wrong password is exit 77 and appears in neither stdout nor stderr, even at trace level."""
    secret, url = wrong_password
    args, log_level, timeout = WRONG_PASSWORD_RUNS[label]
    result = module_harness.opscore(url, *args, log_level=log_level, timeout=timeout)
    figures.record("least_privilege", **{f"wrong_password[{label}]": result.rc})
    assert result.rc == 77, result.brief()
    assert secret.encode() not in result.out + result.err


def test_worker_with_wrong_password_replies_redis_denied_and_never_prints_it(module_harness, wrong_password, figures):
    """A worker with a wrong password replies redis_denied and prints the password nowhere."""
    secret, url = wrong_password
    worker = module_harness.start_worker(url, "acl-wrongpw", concurrency=1)
    reply = worker.call({"id": "x", "op": "get", "session_id": NO_SESSION})
    worker.finish()
    figures.record("least_privilege", wrong_password_worker=(reply or {}).get("error", {}).get("code"))
    assert (reply or {}).get("error", {}).get("code") == "redis_denied", reply
    assert secret not in json.dumps(reply) and secret not in worker.stderr_text()


def test_right_password_is_not_logged_at_trace_level(module_harness, acl_server):
    """Even a working password is not logged at --log-level trace."""
    result = module_harness.opscore(acl_server.user_url, "agent", "list", log_level="trace")
    assert result.rc == 0, result.brief()
    assert acl_server.password.encode() not in result.out + result.err
