"""Stall: a frozen Redis (SIGSTOP) makes every operation fail within the
command timeout (`?timeout=1`): the CLI exits 69 "timed out", a worker replies
redis_timeout; nothing hangs, and after SIGCONT everything works again. A Redis
busy running a script answers BUSY instead: the same exits and replies, at once,
nothing changed, and everything works again once the script is killed.
"""

import threading
import time

import redis

import pytest

STALL_QUERY = "timeout=1&connect_timeout=1"
CLI_LIMIT, WORKER_LIMIT = 3.0, 1.5      # command timeout 1 s, plus slack


@pytest.fixture(scope="module")
def stall(module_harness, figures):
    """Freezes Redis under a CLI get and a worker get + update, then thaws it."""
    server = module_harness.start_redis(name="stall")
    (sid,) = module_harness.start_sessions(server.url, "st-agent", 1)
    url = server.url_for(query=STALL_QUERY)
    worker = module_harness.start_worker(url, "stall", concurrency=2)
    run = {"warm": worker.call({"id": "warm", "op": "get", "session_id": sid}),
           "before": module_harness.session_get(server.url, sid)["version"], "worker": worker}
    server.pause()
    try:
        run["cli"] = module_harness.opscore(url, "session", "get", sid, timeout=10)
        worker.send({"id": "stall-get", "op": "get", "session_id": sid})
        worker.send({"id": "stall-update", "op": "update", "session_id": sid, "metadata": {"stalled": 1}})
        run["get"] = worker.wait_reply("stall-get", timeout=8)
        run["update"] = worker.wait_reply("stall-update", timeout=8)
    finally:
        server.resume()
    time.sleep(0.1)
    run["cli_after"] = module_harness.opscore(url, "session", "get", sid, timeout=10)
    t_after = time.monotonic()
    run["get_after"] = worker.call({"id": "after", "op": "get", "session_id": sid}, timeout=8)
    run["get_after_s"] = time.monotonic() - t_after
    run["update_after"] = worker.call({"id": "after-update", "op": "update", "session_id": sid,
                                       "metadata": {"after": 1}}, timeout=8)
    run["rc"] = worker.finish()
    run["final"] = module_harness.session_get(server.url, sid)
    figures.record("stall", cli_exit=run["cli"].rc, cli_s=run["cli"].elapsed,
                   cli_message=repr(run["cli"].error_text.strip()[:70]),
                   worker_get=error_code(run["get"]), worker_get_s=latency(worker, "stall-get"),
                   worker_update=error_code(run["update"]), worker_update_s=latency(worker, "stall-update"),
                   cli_after_exit=run["cli_after"].rc, cli_after_s=run["cli_after"].elapsed,
                   worker_get_after_s=run["get_after_s"])
    return run


def error_code(reply):
    """The error code of a worker reply (None for ok or no reply)."""
    return (reply or {}).get("error", {}).get("code")


def latency(worker, key):
    """Seconds from request to reply (NaN when there was none)."""
    value = worker.latency(key)
    return float("nan") if value is None else value


def test_worker_works_before_the_stall(stall):
    """The worker answers a get before Redis is frozen."""
    assert (stall["warm"] or {}).get("ok") is True, stall["warm"]


def test_cli_exits_69_timed_out_within_3_s_while_redis_is_frozen(stall):
    """A CLI command against a frozen Redis exits 69 saying 'timed out' within 3 s."""
    cli = stall["cli"]
    assert cli.rc == 69, cli.brief()
    assert cli.error_text.startswith("error:") and "timed out" in cli.error_text, cli.brief()
    assert cli.elapsed <= CLI_LIMIT


@pytest.mark.parametrize("op", ["get", "update"])
def test_worker_replies_redis_timeout_within_the_command_timeout(stall, op):
    """The worker answers redis_timeout within 1 s + 0.5 s, for reads and writes."""
    assert error_code(stall[op]) == "redis_timeout", stall[op]
    assert latency(stall["worker"], f"stall-{op}") <= WORKER_LIMIT


def test_update_that_timed_out_is_not_applied(stall):
    """The stalled update never reached MULTI: only the later update counts."""
    final = stall["final"]
    assert "stalled" not in final["metadata"]
    assert final["version"] == stall["before"] + 1


def test_cli_and_worker_work_again_after_sigcont(stall):
    """After SIGCONT the CLI and the same worker (get and update) work again."""
    assert stall["cli_after"].rc == 0, stall["cli_after"].brief()
    assert (stall["get_after"] or {}).get("ok") is True, stall["get_after"]
    assert (stall["update_after"] or {}).get("ok") is True, stall["update_after"]


def test_worker_exits_0_after_the_stall(stall):
    """The worker exits 0 at end of input after the stall."""
    assert stall["rc"] == 0


def test_a_server_busy_in_a_script_refuses_everything_with_busy_and_nothing_changes(harness):
    server = harness.start_redis("--busy-reply-threshold", "100", name="busy")
    (sid,) = harness.start_sessions(server.url, "b-agent", 1)
    worker = harness.start_worker(server.url, "busy")
    assert worker.call({"id": "warm", "op": "get", "session_id": sid})["ok"] is True
    before = {key: server.client().dump(key) for key in server.client().keys("*")}

    def endless_script():
        try:
            server.client().eval("while true do end", 0)
        except redis.exceptions.ResponseError:
            pass    # killed by SCRIPT KILL

    script = threading.Thread(target=endless_script)
    script.start()
    try:
        deadline = time.monotonic() + 5
        while True:     # BUSY once the script ran past the threshold
            try:
                server.client().ping()
            except redis.exceptions.BusyLoadingError:
                break
            except redis.exceptions.ResponseError as error:
                if str(error).startswith("BUSY"):
                    break
            assert time.monotonic() < deadline, "the script never made the server busy"
            time.sleep(0.02)
        results = [harness.opscore(server.url, *args) for args in (
            ("session", "update", sid, "--metadata", '{"a":1}'),
            ("session", "start", "--agent", "b-agent", "--workflow", "w"),
            ("session", "get", sid),
            ("agent", "register", "other"))]
        update = worker.call({"id": "busy-update", "op": "update", "session_id": sid, "metadata": {"n": 1}})
    finally:
        server.client().script_kill()
        script.join(timeout=10)
    for result in results:
        assert result.rc == 69, result.brief()
        assert result.out == b"" and len(result.error_text.splitlines()) == 1, result.brief()
        assert "BUSY" in result.error_text, result.brief()
    assert update["ok"] is False and update["error"]["code"] == "redis_unavailable", update
    assert {key: server.client().dump(key) for key in server.client().keys("*")} == before
    assert worker.call({"id": "after", "op": "update", "session_id": sid, "metadata": {"n": 2}})["ok"] is True
    assert harness.session_get(server.url, sid)["version"] == 2
    assert worker.finish() == 0
