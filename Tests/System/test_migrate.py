"""`opscore migrate` moves layout-1 data to layout 2 exactly: fields byte for
byte, indexes rebuilt per partition, old keys gone; a second run changes
nothing; a run killed midway and started again completes; until it is done,
every writer refuses and names migrate."""

import datetime
import re
import signal
import subprocess
import uuid

import pytest

from support.keyspace import snapshot
from support.layout import (PARTITIONS, agent_index_key, agents_key, by_update_key, meta_key, partition,
                            session_key)

STATUSES = ["active", "paused", "completed", "failed", "cancelled", "expired"]


def write_layout_one(client, count, agents=("mig-a", "mig-b:odd")):
    """`count` sessions as a layout-1 writer left them; returns {id: fields}."""
    sessions = {}
    pipe = client.pipeline(transaction=False)
    pipe.sadd("opscore:agents", *agents)
    for n in range(count):
        sid = str(uuid.uuid4())
        agent, status = agents[n % len(agents)], STATUSES[n % len(STATUSES)]
        start, updated = 1_700_000_000_000 + n * 1000, 1_700_000_000_500 + n * 1000
        fields = {"session_id": sid, "agent_id": agent, "workflow_id": f"wf {n} ü", "status": status,
                  "start_time": iso(start), "last_updated_time": iso(updated),
                  "metadata": '{"n":%d,"text":"tab\\there"}' % n, "version": str(n % 7 + 1)}
        pipe.hset(f"opscore:session:{sid}", mapping=fields)
        pipe.zadd(f"opscore:agent:{agent}:sessions", {sid: start})
        if status in ("active", "paused"):
            pipe.zadd("opscore:sessions:by_update", {sid: updated})
        sessions[sid] = fields
    pipe.execute()
    return sessions


def iso(milliseconds):
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{milliseconds % 1000:03d}Z"


def layout_one_keys(client):
    return sorted(k for k in client.scan_iter(match="opscore:*")
                  if re.match(rb"^opscore:(session:|agents$|agent:|sessions:by_update$)", k))


def check_moved(client, sessions):
    """Every session byte-equal under its layout-2 key, indexed in its partition."""
    problems = []
    for sid, fields in sessions.items():
        label = partition(sid)
        stored = {k.decode(): v.decode() for k, v in client.hgetall(session_key("opscore", sid)).items()}
        if stored != fields:
            problems.append(f"{sid}: {stored} != {fields}")
        start = client.zscore(agent_index_key("opscore", fields["agent_id"], label), sid)
        if start is None or int(start) != to_ms(fields["start_time"]):
            problems.append(f"{sid}: agent index score {start}")
        live = client.zscore(by_update_key("opscore", label), sid)
        if (fields["status"] in ("active", "paused")) != (live is not None):
            problems.append(f"{sid}: by_update {live} for {fields['status']}")
    return problems


def to_ms(text):
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(round(moment.timestamp() * 1000))


@pytest.fixture
def layout_one(harness):
    server = harness.start_redis(name="layout1")
    client = server.client()
    return server, client, write_layout_one(client, 30)


def test_writes_are_refused_naming_migrate_until_it_ran(harness, layout_one):
    server, client, _ = layout_one
    before = snapshot(client)
    for args in (("agent", "register", "x"), ("session", "start", "--agent", "mig-a", "--workflow", "w")):
        result = harness.opscore(server.url, *args)
        assert result.rc == 1 and "opscore migrate" in result.error_text, result.brief()
    assert snapshot(client) == before


def test_migrate_moves_every_session_exactly_and_removes_the_old_keys(harness, layout_one, figures):
    server, client, sessions = layout_one
    result = harness.opscore(server.url, "migrate")
    assert result.rc == 0, result.brief()
    # The old indexes emptied as their sessions moved; only the agents set was left to remove.
    assert result.json() == {"sessions_moved": 30, "agents": 2, "keys_removed": 1, "skipped": 0}
    assert check_moved(client, sessions) == []
    assert layout_one_keys(client) == []
    assert client.hgetall(meta_key("opscore")) == {b"layout": b"2", b"partitions": b"16", b"events_maxlen": b"10000"}
    assert all(client.smembers(agents_key("opscore", label)) == {b"mig-a", b"mig-b:odd"} for label in PARTITIONS)
    listed = harness.opscore(server.url, "session", "list", "--agent", "mig-b:odd", "--limit", "100")
    assert {s["session_id"] for s in listed.json_lines()} == {s for s, f in sessions.items() if f["agent_id"] == "mig-b:odd"}
    # Layout 2 takes writes now.
    some = next(s for s, f in sessions.items() if f["status"] == "active")
    assert harness.opscore(server.url, "session", "update", some, "--status", "paused").rc == 0
    figures.record("migrate", sessions=30, agents=2)


def test_a_second_run_changes_nothing(harness, layout_one):
    server, client, _ = layout_one
    assert harness.opscore(server.url, "migrate").rc == 0
    before = snapshot(client)
    again = harness.opscore(server.url, "migrate")
    assert again.rc == 0, again.brief()
    assert again.json() == {"sessions_moved": 0, "agents": 0, "keys_removed": 0, "skipped": 0}
    assert snapshot(client) == before


def test_a_run_killed_midway_and_started_again_completes(harness, opscore_bin, figures):
    server = harness.start_redis(name="killed")
    client = server.client()
    sessions = write_layout_one(client, 3000)
    proc = harness.children.spawn([opscore_bin, "--redis-url", server.url, "--log-level", "info", "migrate"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    proc.stderr.readline()  # the first progress line: 100 sessions moved
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    moved = sum(1 for sid in sessions if client.exists(session_key("opscore", sid)))
    left = sum(1 for sid in sessions if client.exists(f"opscore:session:{sid}"))
    figures.record("migrate", killed_after_moving=moved, left_behind=left)
    assert moved + left == 3000, "each session is either moved or not, never both or neither"
    assert 0 < moved < 3000, "the run must have been killed midway"
    assert not client.exists(meta_key("opscore"))
    assert harness.opscore(server.url, "agent", "register", "x").rc == 1
    result = harness.opscore(server.url, "migrate")
    assert result.rc == 0, result.brief()
    assert result.json()["sessions_moved"] == left
    assert check_moved(client, sessions) == []
    assert layout_one_keys(client) == []


def test_a_refused_agent_copy_stops_the_run_and_keeps_the_old_agents(harness, layout_one):
    """An agents set of the wrong type in one partition (WRONGTYPE on its SADD):
    the run fails before anything is deleted, and the layout-1 agents stay."""
    server, client, _ = layout_one
    client.set(agents_key("opscore", "7"), "not a set")
    result = harness.opscore(server.url, "migrate")
    assert result.rc != 0 and "WRONGTYPE" in result.error_text, result.brief()
    assert client.smembers("opscore:agents") == {b"mig-a", b"mig-b:odd"}
    assert not client.exists(meta_key("opscore"))
