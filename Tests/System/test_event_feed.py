"""The durable event feed: `watch` reads the 16 partitions' streams, so it
replays retained events (--since), resumes after a lost connection without
missing or repeating anything, and reports a trimmed position as one
feed.gap line instead of skipping silently."""

import threading
import time

from support.layout import event_stream_key, partition


def versions_of(events, session_id):
    return [e["version"] for e in events if e.get("session_id") == session_id]


def test_watch_since_beginning_replays_every_retained_event_with_its_stream_id(harness):
    server = harness.start_redis(name="replay")
    (sid,) = harness.start_sessions(server.url, "feed-agent", 1)
    for step in range(5):
        assert harness.opscore(server.url, "session", "update", sid, "--metadata", f'{{"step":{step}}}').rc == 0
    watcher = harness.start_watcher(server.url, "replay", extra_args=("--since", "beginning"))
    assert watcher.wait_event(lambda e: e.get("version") == 6, timeout=10), watcher.stderr_text()
    assert watcher.stop() == 0
    assert versions_of(watcher.events, sid) == [1, 2, 3, 4, 5, 6]
    stream = server.client().xrange(event_stream_key("opscore", partition(sid)))
    assert [e["stream_id"] for e in watcher.events] == [entry_id.decode() for entry_id, _ in stream]


def test_watch_since_a_time_or_a_duration_replays_from_then(harness):
    server = harness.start_redis(name="since")
    (old, new) = harness.start_sessions(server.url, "feed-agent", 2)
    seconds, micros = server.client().time()
    time.sleep(0.01)
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros // 1000:03d}Z"
    assert harness.opscore(server.url, "session", "update", new, "--status", "paused").rc == 0
    by_time = harness.start_watcher(server.url, "since-time", extra_args=("--since", since))
    by_duration = harness.start_watcher(server.url, "since-duration", extra_args=("--since", "1h"))
    for watcher in (by_time, by_duration):
        assert watcher.wait_event(lambda e: e.get("status") == "paused", timeout=10), watcher.stderr_text()
    time.sleep(0.3)
    assert [e["type"] for e in by_time.events] == ["session.updated"]
    assert {e["session_id"] for e in by_duration.events if e["type"] == "session.started"} == {old, new}


def test_watch_whose_connection_is_killed_prints_every_version_exactly_once_in_order(harness, figures):
    server = harness.start_redis(name="kill")
    (sid,) = harness.start_sessions(server.url, "feed-agent", 1)
    watcher = harness.start_watcher(server.url, "killed", extra_args=("--since", "beginning", "--session", sid))
    assert watcher.wait_event(lambda e: e.get("version") == 1, timeout=10)
    worker = harness.start_worker(server.url, "writer", concurrency=1)
    updates, kills = 300, 0
    done = threading.Event()

    def write():
        for n in range(updates):
            worker.send({"id": n, "op": "update", "session_id": sid, "metadata": {"n": n}})
            time.sleep(0.005)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    admin = server.client()
    while not done.is_set():
        time.sleep(0.25)
        # The watch's connection is the one blocked in XREAD.
        for client in admin.client_list():
            if client.get("cmd") == "xread":
                admin.client_kill_filter(_id=client["id"])
                kills += 1
    assert worker.wait_count(updates, timeout=30)
    assert watcher.wait_event(lambda e: e.get("version") == updates + 1, timeout=15), watcher.stderr_text()
    assert watcher.stop() == 0
    figures.record("event feed", watch_connection_kills=kills, updates=updates)
    assert kills >= 3, "the test must actually cut the watch's connection"
    assert versions_of(watcher.events, sid) == list(range(1, updates + 2))
    assert "reconnected" in watcher.stderr_text()


def test_a_position_trimmed_away_gives_one_feed_gap_line_and_reading_goes_on(harness, figures):
    server = harness.start_redis("--stream-node-max-entries", "4", name="trim")
    assert harness.opscore(server.url, "init", "--events-maxlen", "10").rc == 0
    (sid,) = harness.start_sessions(server.url, "feed-agent", 1)
    for step in range(40):
        assert harness.opscore(server.url, "session", "update", sid, "--metadata", f'{{"step":{step}}}').rc == 0
    stream = server.client().xrange(event_stream_key("opscore", partition(sid)))
    assert len(stream) < 41, "the stream must have been trimmed"
    first_kept = stream[0][0].decode()
    watcher = harness.start_watcher(server.url, "gap", extra_args=("--since", "beginning"))
    assert watcher.wait_event(lambda e: e.get("version") == 41, timeout=10), watcher.stderr_text()
    assert watcher.stop() == 0
    gaps = [e for e in watcher.events if e.get("type") == "feed.gap"]
    figures.record("event feed", retained=len(stream), first_kept=first_kept)
    assert gaps == [{"type": "feed.gap", "partition": partition(sid), "first_kept": first_kept}]
    assert watcher.events[0] == gaps[0]
    assert [e["stream_id"] for e in watcher.events[1:]] == [entry_id.decode() for entry_id, _ in stream]
    assert "trimmed" in watcher.stderr_text()


def test_a_watch_whose_reader_is_slow_reads_only_as_fast_as_it_prints(harness, figures):
    """50,000 retained events and a stdout nobody reads: watch blocks on its
    output and stops reading the streams, so its memory stays at one batch."""
    server = harness.start_redis(name="slow-reader")
    client = server.client()
    event = ('{"type":"session.updated","session_id":"%s","agent_id":"slow","workflow_id":"w",'
             '"status":"active","previous_status":"active","version":%d,"changed":["last_updated_time",'
             '"version"],"at":"2026-12-01T00:00:00.000Z","origin":"' + "x" * 200 + '"}')
    for label in "0123456789abcdef":
        pipe = client.pipeline(transaction=False)
        sid = label + "0000000-0000-4000-8000-000000000000"[1:]
        for version in range(1, 3126):
            pipe.xadd(event_stream_key("opscore", label), {"event": event % (sid, version)})
        pipe.execute()
    watcher = harness.start_watcher(server.url, "slow", extra_args=("--since", "beginning"), read_stdout=False)
    time.sleep(3)
    rss = watcher.rss_kib()
    figures.record("event feed", slow_reader_rss_kib=rss, retained_events=50_000)
    assert watcher.proc.poll() is None, "watch must still be running, blocked on its output"
    assert rss < 40_000, f"watch holds {rss} KiB: it read ahead of what it printed"
