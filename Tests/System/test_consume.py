"""`opscore consume`: at-least-once processing with a consumer group. Several
consumers share the work; one killed mid-run loses nothing (its pending
events are claimed by the others); a handler that always fails ends in the
dead-letter stream; SIGTERM finishes the running handler, acknowledges it and
exits 0."""

import json
import signal
import subprocess
import time

import redis

from support.cli import opscore_argv
from support.layout import PARTITIONS, event_stream_key

GROUP = "billing"


def start_consumer(harness, server, name, command, *extra, log_path=None):
    argv = opscore_argv(harness.binary, server.url) + [
        "consume", "--group", GROUP, "--consumer", name, "--from", "beginning", "--exec", command, *extra]
    with open(log_path or harness.directory / f"{name}.err", "wb") as err:
        return harness.children.spawn(argv, stdout=subprocess.DEVNULL, stderr=err)


def pending(client):
    """Entries of the group still pending, over the 16 partitions (0 before the group exists)."""
    try:
        return sum(client.xpending(event_stream_key("opscore", label), GROUP)["pending"] for label in PARTITIONS)
    except redis.exceptions.ResponseError:
        return 0


def committed_events(client):
    """(session_id, version) of every event in the streams."""
    events = set()
    for label in PARTITIONS:
        for _, fields in client.xrange(event_stream_key("opscore", label)):
            event = json.loads(fields[b"event"])
            events.add((event["session_id"], event["version"]))
    return events


def handled_events(path):
    if not path.exists():
        return []
    return [(e["session_id"], e["version"]) for e in map(json.loads, path.read_text().splitlines())]


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_three_consumers_one_killed_handle_every_event_at_least_once(harness, figures):
    server = harness.start_redis(name="consume")
    client = server.client()
    sessions = harness.start_sessions(server.url, "consume-agent", 20)
    for sid in sessions:
        assert harness.opscore(server.url, "session", "update", sid, "--metadata", '{"r":0}').rc == 0
    # 20 starts + 20 updates, then 200 more updates through a worker while the consumers run.
    out = harness.directory / "handled.jsonl"
    command = f"sleep 0.01; cat >> {out}"
    consumers = [start_consumer(harness, server, f"c{n}", command, "--claim-after", "1") for n in range(3)]
    worker = harness.start_worker(server.url, "writer", concurrency=2)
    for n in range(200):
        worker.send({"id": n, "op": "update", "session_id": sessions[n % 20], "metadata": {"n": n}})
    assert worker.wait_count(200, timeout=30)
    assert wait_until(lambda: len(handled_events(out)) >= 60, timeout=20)
    consumers[0].send_signal(signal.SIGKILL)     # mid-run: whatever it held stays pending
    consumers[0].wait(timeout=5)
    expected = committed_events(client)
    assert len(expected) == 240
    assert wait_until(lambda: expected <= set(handled_events(out)) and pending(client) == 0, timeout=40), \
        f"missing {len(expected - set(handled_events(out)))}, pending {pending(client)}"
    for consumer in consumers[1:]:
        consumer.send_signal(signal.SIGTERM)
        assert consumer.wait(timeout=10) == 0
    handled = handled_events(out)
    figures.record("consume", events=len(expected), handled_runs=len(handled), duplicates=len(handled) - len(set(handled)))
    assert set(handled) == expected


def test_a_handler_that_always_fails_ends_in_the_dead_letter_stream(harness, figures):
    server = harness.start_redis(name="dead")
    client = server.client()
    (sid,) = harness.start_sessions(server.url, "consume-agent", 1)
    consumer = start_consumer(harness, server, "failing", "exit 3", "--claim-after", "0.5", "--max-deliveries", "3")
    dead_key = event_stream_key("opscore", sid[0]) + ":dead"
    assert wait_until(lambda: client.xlen(dead_key) == 1, timeout=20)
    consumer.send_signal(signal.SIGTERM)
    assert consumer.wait(timeout=10) == 0
    (_, fields), = client.xrange(dead_key)
    figures.record("consume", dead_lettered_after=fields[b"deliveries"].decode())
    assert fields[b"group"] == GROUP.encode()
    assert fields[b"exit_status"] == b"3"
    assert int(fields[b"deliveries"]) == 3
    assert b'"session.started"' in fields[b"event"]
    assert pending(client) == 0


def test_sigterm_finishes_the_running_handler_acknowledges_it_and_exits_0(harness):
    server = harness.start_redis(name="sigterm")
    client = server.client()
    harness.start_sessions(server.url, "consume-agent", 1)
    marker = harness.directory / "finished"
    consumer = start_consumer(harness, server, "slow", f"sleep 1.5; touch {marker}")
    assert wait_until(lambda: pending(client) == 1, timeout=10)   # the handler is running
    consumer.send_signal(signal.SIGTERM)
    assert consumer.wait(timeout=10) == 0
    assert marker.exists(), "the running handler was cut short"
    assert pending(client) == 0
