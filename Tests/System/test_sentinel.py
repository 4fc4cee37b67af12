"""Sentinel: with `--redis-url redis-sentinel://…#opsmain` opscore asks the
sentinels for the primary (confirmed with ROLE) and asks again when it fails,
so one-shot commands, a worker and watch go on through a failover; a master
name no sentinel knows, or no sentinel answering, is exit 69 with one error
line, within a few seconds.

Every deployment is one primary, two replicas and three sentinels (quorum 2,
down-after 1.5 s). Failover under load (one scenario): a worker with
`--wait-replicas 1` gets an update every 3 ms for 15 s over 4 sessions and the
primary is SIGKILLed 3 s in; every request gets one reply, every acknowledged
update is on the new primary with its event, versions stay gap-free, and every
update sent 10 s or more after the kill succeeds. Rejoin (one scenario): the
killed primary is restarted and comes back believing it is the primary; it
gets none of opscore's writes, and Sentinel makes it a replica of the new one.
watch --since beginning across a failover prints every retained event once.
"""

import collections
import json
import re
import threading
import time

import pytest

from support.keyspace import stream_events
from support.layout import agents_key, partition, session_key
from support.sentinel import SentinelDeployment
from support.worker_replies import acknowledged, first_replies, reply_code

UNREACHABLE_QUERY = "timeout=1&connect_timeout=0.5"
PACE, DURATION, KILL_AT, SESSIONS = 0.003, 15.0, 3.0, 4
TOTAL = round(DURATION / PACE)
SETTLED_AFTER = 10.0        # every update sent this long after the kill succeeds
FAILOVER_CODES = ("redis_unavailable", "redis_timeout", "not_replicated")
UNKNOWN_OUTCOME = re.compile(r"may or may not", re.I)
NO_SUCH_SESSION = "00000000-0000-4000-8000-000000000000"


def assert_one_error_line(result):
    lines = result.error_text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.brief()
    assert result.out == b"", result.text


def stored_version(server, session_id):
    """The session's version as `server` holds it (None when it has none)."""
    version = server.client().hget(session_key("opscore", session_id), "version")
    return None if version is None else int(version)


def wait_for_version(server, session_id, version, timeout=5.0):
    """True once `server` holds the session at `version` (replication is asynchronous)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored_version(server, session_id) == version:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def deployment(module_harness):
    """A deployment shared by the checks that leave it as it was."""
    return SentinelDeployment(module_harness, name="shared")


# -- finding the primary ------------------------------------------------------

def test_one_shot_commands_through_the_sentinels_reach_the_primary_and_its_replicas(harness, deployment):
    url = deployment.url()
    assert harness.opscore(url, "agent", "register", "s-agent").rc == 0
    started = harness.opscore(url, "session", "start", "--agent", "s-agent", "--workflow", "w",
                              "--metadata", '{"via":"sentinel"}')
    assert started.rc == 0, started.brief()
    sid = started.json()["session_id"]
    updated = harness.opscore(url, "session", "update", sid, "--status", "paused")
    assert updated.rc == 0, updated.brief()
    got = harness.session_get(url, sid)
    assert (got["status"], got["version"], got["metadata"]) == ("paused", 2, {"via": "sentinel"})
    primary = deployment.current_primary()
    stored = primary.client().hgetall(session_key("opscore", sid))
    assert (stored[b"status"], stored[b"version"]) == (b"paused", b"2")
    assert primary.client().sismember(agents_key("opscore", partition(sid)), "s-agent")
    for replica in deployment.replicas:
        assert wait_for_version(replica, sid, 2), f"replica on port {replica.port} did not get the session"


@pytest.mark.parametrize("command", [("agent", "list"), ("agent", "register", "nobody-agent")])
def test_a_master_name_no_sentinel_knows_exits_69_with_one_error_line(harness, deployment, command):
    result = harness.opscore(deployment.url(master="nosuchmaster"), *command)
    assert result.rc == 69, result.brief()
    assert_one_error_line(result)
    assert not deployment.current_primary().client().sismember(agents_key("opscore", "0"), "nobody-agent")


@pytest.mark.parametrize("how, limit", [("killed", 3.0), ("frozen", 6.0)])
def test_no_sentinel_answering_exits_69_with_one_error_line_without_hanging(harness, figures, how, limit):
    """Killed sentinels refuse at once; frozen ones (SIGSTOP) cost one command
    timeout (1 s) each: either way exit 69 within `limit` seconds."""
    deployment = SentinelDeployment(harness, name=how)
    url = deployment.url(query=UNREACHABLE_QUERY)
    assert harness.opscore(url, "agent", "register", "s-agent").rc == 0, "works while the sentinels answer"
    if how == "killed":
        deployment.stop_sentinels()
    else:
        deployment.pause_sentinels()
    result = harness.opscore(url, "session", "get", NO_SUCH_SESSION, timeout=30)
    figures.record("sentinel", **{f"sentinels_{how}_exit": result.rc, f"sentinels_{how}_s": result.elapsed})
    assert result.rc == 69, result.brief()
    assert_one_error_line(result)
    assert result.elapsed < limit, f"took {result.elapsed:.2f} s"


# -- failover under load ------------------------------------------------------

def paced_updates(worker, sessions, start):
    """Sends TOTAL updates, one every PACE seconds from `start`; update n sets metadata n."""
    try:
        for n in range(TOTAL):
            delay = start + n * PACE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            worker.send({"id": str(n), "op": "update", "session_id": sessions[n % SESSIONS], "metadata": {"n": n}})
    except (OSError, ValueError):
        pass    # the worker is gone: the missing replies show it


@pytest.fixture(scope="module")
def failover(module_harness, figures):
    """Runs the failover under load once; returns the replies and what the new primary holds."""
    deployment = SentinelDeployment(module_harness, name="failover")
    url = deployment.url()
    sessions = module_harness.start_sessions(url, "fo-agent", SESSIONS)
    worker = module_harness.start_worker(url, "failover", concurrency=4, extra_args=("--wait-replicas", "1"))
    t0 = time.monotonic()
    generator = threading.Thread(target=paced_updates, args=(worker, sessions, t0), daemon=True)
    generator.start()
    time.sleep(max(0.0, t0 + KILL_AT - time.monotonic()))
    old = deployment.kill_primary()
    _, failover_s = deployment.wait_for_failover(old.port)
    generator.join(timeout=DURATION + 30)
    worker.wait_count(TOTAL, timeout=15)
    run = {"sessions": sessions, "worker": worker, "killed_at": deployment.killed_at, "old_port": old.port,
           "generator_done": not generator.is_alive(), "rc": worker.finish(timeout=30)}
    primary = deployment.current_primary()      # the sentinels' word now, after any second failover
    client = primary.client()
    run["primary_port"] = primary.port
    run["stored"] = {sid: client.hgetall(session_key("opscore", sid)) for sid in sessions}
    run["events"] = stream_events(client, "opscore", sessions)
    run["replies"] = {str(n): [obj for _, obj in worker.replies.get(str(n), [])] for n in range(TOTAL)}
    record_failover(figures, run, failover_s)
    return run


def events_of(run, session_id):
    """The retained events of one session, oldest first."""
    return [event for _, event in run["events"][partition(session_id)] if event["session_id"] == session_id]


def record_failover(figures, run, failover_s):
    killed_at, worker = run["killed_at"], run["worker"]
    codes = collections.Counter(reply_code(reply) for _, _, reply in first_replies(run))
    failed_at = [sent - killed_at for _, sent, reply in first_replies(run) if reply_code(reply) != "ok"]
    ok_after = [worker.replies[str(n)][0][0] - killed_at for n, sent, reply in first_replies(run)
                if sent >= killed_at and reply_code(reply) == "ok"]
    unknown = sum(1 for _, _, reply in first_replies(run)
                  if UNKNOWN_OUTCOME.search((reply.get("error") or {}).get("message", "")))
    figures.record("sentinel failover", updates=TOTAL, kill_at_s=KILL_AT, failover_settled_s=failover_s,
                   first_success_after_kill_s=min(ok_after) if ok_after else "none", codes=dict(codes),
                   unknown_outcome=unknown,
                   failed_window_s=f"{min(failed_at):.2f}-{max(failed_at):.2f}" if failed_at else "-",
                   final_versions="/".join(run["stored"][sid].get(b"version", b"?").decode()
                                           for sid in run["sessions"]))


def test_worker_reads_all_updates_through_the_failover_and_exits_0(failover):
    """The worker keeps reading through the failover and exits 0 at end of input."""
    assert failover["generator_done"], "the generator did not finish (worker not reading?)"
    assert failover["rc"] == 0


def test_every_update_gets_exactly_one_reply(failover):
    """Never silence, never two replies: each of the updates has one reply, nothing else is printed."""
    replies = failover["replies"]
    assert sorted((n for n, got in replies.items() if not got), key=int) == [], "updates without a reply"
    assert sorted((n for n, got in replies.items() if len(got) > 1), key=int) == [], "updates with two replies"
    assert set(failover["worker"].replies) <= set(replies), "replies to ids never sent"
    assert failover["worker"].bad_lines == []


def test_the_failover_costs_updates_only_outage_or_not_replicated_errors(failover):
    """A replica was promoted; the outage is observed, and reported only as
    redis_unavailable, redis_timeout or not_replicated."""
    assert failover["primary_port"] != failover["old_port"]
    codes = collections.Counter(reply_code(reply) for _, _, reply in first_replies(failover))
    assert sum(count for code, count in codes.items() if code != "ok") > 0, "no update failed: no outage observed"
    assert set(codes) - {"ok", *FAILOVER_CODES} == set(), dict(codes)


def test_every_update_sent_10_s_after_the_kill_succeeds(failover):
    """By then the new primary is found and has a replica to confirm: all acknowledged."""
    late = [(n, reply_code(reply)) for n, sent, reply in first_replies(failover)
            if sent - failover["killed_at"] >= SETTLED_AFTER]
    assert late, "no update was sent 10 s after the kill"
    assert [(n, code) for n, code in late if code != "ok"] == []


@pytest.mark.parametrize("index", range(SESSIONS))
def test_acknowledged_updates_are_on_the_new_primary_with_their_events(failover, index):
    """Each ok reply's (version, last_updated_time) is an event retained on the new
    primary (an update lost and its version reused would have a later time), and
    the stored session is the last acknowledged update's."""
    sid = failover["sessions"][index]
    acked = acknowledged(failover, sid)
    assert acked, "no update of this session was acknowledged"
    retained = {(event["version"], event["at"]) for event in events_of(failover, sid)}
    missing = [(session["version"], session["last_updated_time"]) for session in acked
               if (session["version"], session["last_updated_time"]) not in retained]
    assert missing == [], f"{len(missing)} acknowledged updates missing on the new primary"
    stored = failover["stored"][sid]
    last = max(acked, key=lambda session: session["version"])
    assert last["version"] == int(stored[b"version"])
    assert json.loads(stored[b"metadata"]) == last["metadata"]


@pytest.mark.parametrize("index", range(SESSIONS))
def test_versions_are_gap_free_and_each_has_one_event(failover, index):
    """Stream versions run 1, 2, … up to the stored version with no gap or
    repeat; no two acks share a version; version - 1 is at least the acks."""
    sid = failover["sessions"][index]
    version = int(failover["stored"][sid][b"version"])
    assert [event["version"] for event in events_of(failover, sid)] == list(range(1, version + 1))
    acked_versions = [session["version"] for session in acknowledged(failover, sid)]
    assert len(set(acked_versions)) == len(acked_versions), "two acks report the same version"
    assert version - 1 >= len(acked_versions)


# -- the old primary comes back -----------------------------------------------

def worker_update(worker, key, session_id, metadata):
    """One update through the worker; its reply code."""
    return reply_code(worker.call({"id": key, "op": "update", "session_id": session_id, "metadata": metadata}))


def update_until_ok(worker, session_id, label, metadata, timeout=5.0):
    """Sends the update again until one is acknowledged; returns every reply code."""
    codes, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline and "ok" not in codes:
        codes.append(worker_update(worker, f"{label}-{len(codes)}", session_id, metadata))
        time.sleep(0.1 if codes[-1] != "ok" else 0)
    return codes


def stored_metadata(server, session_id):
    raw = server.client().hget(session_key("opscore", session_id), "metadata")
    return None if raw is None else json.loads(raw)


@pytest.fixture(scope="module")
def rejoin(module_harness, figures):
    """Kills the primary under a worker, restarts it after the failover and writes
    while it believes it is the primary, then again once Sentinel made it a replica."""
    deployment = SentinelDeployment(module_harness, name="rejoin")
    url = deployment.url()
    sessions = module_harness.start_sessions(url, "rj-agent", 2)
    worker = module_harness.start_worker(url, "rejoin", concurrency=2, extra_args=("--wait-replicas", "1"))
    run = {"sessions": sessions, "before": [worker_update(worker, f"before-{i}", sid, {"phase": "before"})
                                            for i, sid in enumerate(sessions)]}
    old = deployment.kill_primary()
    new, failover_s = deployment.wait_for_failover(old.port)
    t_restart = deployment.restart(old)
    run["stale_role"] = deployment.role(old)
    # Sentinel leaves a returned primary alone for about 8 s before it reconfigures it.
    run["stale_worker"] = [update_until_ok(worker, sid, f"stale{i}", {"phase": "stale"})
                           for i, sid in enumerate(sessions)]
    run["stale_cli"] = module_harness.opscore(url, "session", "update", sessions[0], "--metadata", '{"cli":"stale"}')
    run["stale_start"] = module_harness.opscore(url, "session", "start", "--agent", "rj-agent", "--workflow", "w")
    run["stale_role_after"], run["stale_keys"] = deployment.role(old), old.client().dbsize()
    run["stale_metadata"] = [stored_metadata(new, sid) for sid in sessions]
    if run["stale_start"].rc == 0:
        run["stale_started_version"] = stored_version(new, run["stale_start"].json()["session_id"])
    run["rejoined_at"] = deployment.wait_replica_of(old, deployment.current_primary(), timeout=30)
    primary = deployment.current_primary()
    run["after_worker"] = [worker_update(worker, f"after-{i}", sid, {"phase": "after"})
                           for i, sid in enumerate(sessions)]
    run["after_cli"] = module_harness.opscore(url, "--wait-replicas", "2", "session", "update", sessions[1],
                                              "--metadata", '{"cli":"after"}')
    final = {sid: stored_version(primary, sid) for sid in sessions}
    run["old_caught_up"] = all(wait_for_version(old, sid, final[sid]) for sid in sessions)
    run.update(primary_port=primary.port, new_port=new.port, old_master_port=deployment.replicating_from(old),
               old_role_end=deployment.role(old), old_metadata=stored_metadata(old, sessions[1]),
               old_readonly_errors=old.client().info("errorstats").get("errorstat_READONLY"),
               primary_metadata=[stored_metadata(primary, sid) for sid in sessions], rc=worker.finish())
    figures.record("sentinel rejoin", failover_settled_s=failover_s,
                   rejoined_as_replica_s=run["rejoined_at"] - t_restart,
                   stale_worker_codes="/".join(",".join(map(str, codes)) for codes in run["stale_worker"]),
                   keys_on_returned_primary=run["stale_keys"])
    return run


def test_the_killed_primary_comes_back_believing_it_is_the_primary(rejoin):
    """The scenario's premise: restarted with its old arguments, it answers ROLE master."""
    assert rejoin["before"] == ["ok", "ok"]
    assert rejoin["stale_role"] == "master"


def test_writes_while_the_old_primary_believes_it_is_primary_go_to_the_new_one(rejoin):
    """A worker (connected before the kill) and the CLI write through the sentinels:
    acknowledged (after outage errors at most), on the new primary, none on the old one."""
    for codes in rejoin["stale_worker"]:
        assert codes[-1] == "ok" and set(codes[:-1]) <= set(FAILOVER_CODES), codes
    assert rejoin["stale_cli"].rc == 0, rejoin["stale_cli"].brief()
    assert rejoin["stale_start"].rc == 0, rejoin["stale_start"].brief()
    assert rejoin["stale_role_after"] == "master", "Sentinel reconfigured it too early: the check proves nothing"
    assert rejoin["stale_keys"] == 0, "opscore wrote to the restarted old primary"
    assert [metadata["phase"] for metadata in rejoin["stale_metadata"]] == ["stale", "stale"]
    assert rejoin["stale_metadata"][0]["cli"] == "stale"
    assert rejoin["stale_started_version"] == 1


def test_sentinel_makes_the_old_primary_a_replica_of_the_new_one(rejoin):
    """The old primary replicates from the current primary, which is the promoted replica."""
    assert rejoin["primary_port"] == rejoin["new_port"]
    assert rejoin["old_master_port"] == rejoin["new_port"]


def test_writes_after_the_rejoin_land_on_the_new_primary_and_reach_the_old_one(rejoin):
    """Worker and CLI (--wait-replicas 2: both replicas, the old primary among them) succeed."""
    assert rejoin["after_worker"] == ["ok", "ok"]
    assert rejoin["after_cli"].rc == 0, rejoin["after_cli"].brief()
    assert [metadata["phase"] for metadata in rejoin["primary_metadata"]] == ["after", "after"]
    assert rejoin["primary_metadata"][1]["cli"] == "after"
    assert rejoin["old_caught_up"], "the old primary did not receive the new primary's writes"
    assert rejoin["old_metadata"] == rejoin["primary_metadata"][1]


def test_the_rejoined_old_primary_stays_a_replica_and_gets_no_write(rejoin):
    """Its role stays slave, and nothing tried to write to it (no READONLY refusals)."""
    assert rejoin["old_role_end"] == "slave"
    assert rejoin["old_readonly_errors"] is None, rejoin["old_readonly_errors"]


def test_worker_exits_0_after_the_failover_and_the_rejoin(rejoin):
    assert rejoin["rc"] == 0


# -- watch --------------------------------------------------------------------

def test_watch_across_a_failover_prints_every_retained_event_exactly_once(harness, figures):
    """Updates before the kill (confirmed by both replicas, so whichever is promoted
    has them) and after the promotion: watch --since beginning prints each event
    the new primary retains once, per partition in stream order, and nothing else."""
    deployment = SentinelDeployment(harness, name="watch")
    url = deployment.url()
    sessions = harness.start_sessions(url, "w-agent", 2)
    watcher = harness.start_watcher(url, "failover", extra_args=("--since", "beginning"))
    assert watcher.wait_subscribed(), watcher.stderr_text()
    for step in range(3):
        for sid in sessions:
            result = harness.opscore(url, "--wait-replicas", "2", "session", "update", sid,
                                     "--metadata", json.dumps({"before": step}))
            assert result.rc == 0, result.brief()
    for sid in sessions:
        assert watcher.wait_event(lambda e, sid=sid: (e.get("session_id"), e.get("version")) == (sid, 4),
                                  timeout=10), watcher.stderr_text()
    old = deployment.kill_primary()
    _, failover_s = deployment.wait_for_failover(old.port)
    for step in range(3):
        for sid in sessions:
            result = harness.opscore(url, "session", "update", sid, "--metadata", json.dumps({"after": step}))
            assert result.rc == 0, result.brief()
    for sid in sessions:
        assert watcher.wait_event(lambda e, sid=sid: (e.get("session_id"), e.get("version")) == (sid, 7),
                                  timeout=15), watcher.stderr_text()
    time.sleep(0.5)     # a repeat would follow the last event closely
    assert watcher.stop() == 0
    retained = stream_events(deployment.current_primary().client(), "opscore", sessions)
    printed = collections.defaultdict(list)
    for event in watcher.events:
        printed[partition(event.get("session_id") or "?")].append(event.get("stream_id"))
    figures.record("sentinel watch", failover_settled_s=failover_s, printed=len(watcher.events),
                   retained=sum(len(entries) for entries in retained.values()))
    assert dict(printed) == {label: [entry_id for entry_id, _ in entries] for label, entries in retained.items()}
    for sid in sessions:
        versions = [event["version"] for event in watcher.events if event.get("session_id") == sid]
        assert versions == list(range(1, 8))
