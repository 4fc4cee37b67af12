"""`--wait-replicas N`: every write is followed by `WAIT N`; when fewer replicas
confirm (one stopped, or fewer than N exist), the change stands on the primary
and the caller gets `not_replicated` (exit 75) saying so, never silence."""

import signal
import time

from support.layout import session_key

QUERY = "timeout=1"     # WAIT waits a little under the command timeout


def primary_with_replica(harness):
    primary = harness.start_redis(name="primary")
    replica = harness.start_redis("--replicaof", "127.0.0.1", primary.port, name="replica")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if replica.client().info("replication").get("master_link_status") == "up":
            return primary, replica
        time.sleep(0.05)
    raise AssertionError("the replica did not sync")


def test_a_write_confirmed_by_the_replica_succeeds_and_is_on_the_replica(harness):
    primary, replica = primary_with_replica(harness)
    url = primary.url_for(query=QUERY)
    assert harness.opscore(url, "--wait-replicas", "1", "agent", "register", "r-agent").rc == 0
    started = harness.opscore(url, "--wait-replicas", "1", "session", "start", "--agent", "r-agent", "--workflow", "w")
    assert started.rc == 0, started.brief()
    sid = started.json()["session_id"]
    # WAIT returned: the replica has the session already.
    assert replica.client().hget(session_key("opscore", sid), "version") == b"1"


def test_fewer_replicas_than_required_exit_75_and_the_change_stands_on_the_primary(harness, figures):
    primary, replica = primary_with_replica(harness)
    url = primary.url_for(query=QUERY)
    assert harness.opscore(url, "agent", "register", "r-agent").rc == 0
    sid = harness.opscore(url, "session", "start", "--agent", "r-agent", "--workflow", "w").json()["session_id"]
    too_many = harness.opscore(url, "--wait-replicas", "2", "session", "update", sid, "--metadata", '{"a":1}')
    replica.send_signal(signal.SIGSTOP)
    try:
        stopped = harness.opscore(url, "--wait-replicas", "1", "session", "update", sid, "--metadata", '{"b":2}')
    finally:
        replica.send_signal(signal.SIGCONT)
    figures.record("replication", two_of_one_exit=too_many.rc, stopped_replica_exit=stopped.rc,
                   stopped_replica_seconds=stopped.elapsed)
    for result in (too_many, stopped):
        assert result.rc == 75, result.brief()
        assert result.error_text.startswith("error: committed on the primary"), result.brief()
        assert "--expect-version" in result.error_text
    assert primary.client().hget(session_key("opscore", sid), "version") == b"3"


def test_a_worker_replies_not_replicated_and_goes_on(harness):
    primary, replica = primary_with_replica(harness)
    url = primary.url_for(query=QUERY)
    (sid,) = harness.start_sessions(url, "r-agent", 1)
    worker = harness.start_worker(url, "replicated", extra_args=("--wait-replicas", "1"))
    assert worker.call({"id": 1, "op": "update", "session_id": sid, "metadata": {"n": 1}})["ok"] is True
    replica.send_signal(signal.SIGSTOP)
    try:
        reply = worker.call({"id": 2, "op": "update", "session_id": sid, "metadata": {"n": 2}})
    finally:
        replica.send_signal(signal.SIGCONT)
    assert reply["ok"] is False and reply["error"]["code"] == "not_replicated", reply
    assert worker.call({"id": 3, "op": "get", "session_id": sid})["session"]["version"] == 3
    assert worker.finish() == 0


def dumps(server):
    """Every key of the server with its DUMP: what a refused command must not change."""
    client = server.client()
    return {key: client.dump(key) for key in client.keys("*")}


def test_pointed_at_a_replica_every_write_is_refused_with_readonly_and_changes_nothing(harness):
    """A primary demoted to a replica answers writes with READONLY: each write
    exits 69 with one line naming it, writes nothing (no partial transaction on
    either server), reads still work, and a worker replies and goes on."""
    primary, replica = primary_with_replica(harness)
    (sid,) = harness.start_sessions(primary.url_for(query=QUERY), "r-agent", 1)
    deadline = time.monotonic() + 10
    while replica.client().hget(session_key("opscore", sid), "version") != b"1":
        assert time.monotonic() < deadline, "the session never reached the replica"
        time.sleep(0.05)
    url = replica.url_for(query=QUERY)
    before = (dumps(primary), dumps(replica))
    writes = [
        ("session", "start", "--agent", "r-agent", "--workflow", "w"),
        ("session", "update", sid, "--metadata", '{"a":1}'),
        ("session", "end", sid),
        ("session", "delete", sid),
        ("agent", "register", "other"),
        ("agent", "remove", "r-agent"),
    ]
    for args in writes:
        result = harness.opscore(url, *args)
        assert result.rc == 69, (args, result.brief())
        assert result.out == b"" and len(result.error_text.splitlines()) == 1, (args, result.brief())
        assert "READONLY" in result.error_text, (args, result.brief())
    got = harness.opscore(url, "session", "get", sid)
    assert got.rc == 0 and got.json()["version"] == 1, got.brief()
    worker = harness.start_worker(url, "readonly")
    reply = worker.call({"id": 1, "op": "update", "session_id": sid, "metadata": {"n": 1}})
    assert reply["ok"] is False and reply["error"]["code"] == "redis_unavailable", reply
    assert "READONLY" in reply["error"]["message"], reply
    assert worker.call({"id": 2, "op": "get", "session_id": sid})["session"]["version"] == 1
    assert worker.finish() == 0
    assert (dumps(primary), dumps(replica)) == before
