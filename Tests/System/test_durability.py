"""Durability: with `appendonly yes` and `appendfsync always`, an acknowledged
update survives `kill -9` of Redis and a restart on the same data.

One scenario (module fixture): a worker receives 2,000 updates paced over 4 s
for 5 sessions; Redis is SIGKILLed 1.5 s in and restarted 1 s later. The
tests then check the replies against what Redis holds.
"""

import collections
import re
import signal
import threading
import time
from dataclasses import dataclass, field

import pytest

from support.layout import session_key

TOTAL, DURATION, KILL_AT, DOWN_FOR = 2000, 4.0, 1.5, 1.0
SESSIONS = 5
OUTAGE_CODES = ("redis_unavailable", "redis_timeout")
UNKNOWN_OUTCOME = re.compile(r"may or may not", re.I)
SESSION_FIELDS = {b"session_id", b"agent_id", b"workflow_id", b"status", b"start_time",
                  b"last_updated_time", b"metadata", b"version"}


@dataclass
class Outcomes:
    """Per session: the metadata keys of acked, unknown-outcome and failed updates."""

    acked: dict = field(default_factory=lambda: collections.defaultdict(set))
    unknown: dict = field(default_factory=lambda: collections.defaultdict(set))
    failed: dict = field(default_factory=lambda: collections.defaultdict(set))
    ack_versions: dict = field(default_factory=lambda: collections.defaultdict(list))
    codes: collections.Counter = field(default_factory=collections.Counter)
    bad_codes: list = field(default_factory=list)
    failed_at: list = field(default_factory=list)


def paced_updates(worker, sessions):
    """Sends TOTAL updates evenly over DURATION seconds; update n adds key u<n>."""
    start = time.monotonic()
    try:
        for n in range(TOTAL):
            delay = start + n * DURATION / TOTAL - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            worker.send({"id": str(n), "op": "update", "session_id": sessions[n % SESSIONS],
                         "metadata": {f"u{n}": n}})
    except (OSError, ValueError):
        pass    # the worker is gone: the missing replies show it


def classify(worker, sessions, t0):
    """Sorts every reply into acked / unknown outcome / failed."""
    outcomes = Outcomes()
    for n in range(TOTAL):
        entries = worker.replies.get(str(n))
        if not entries:
            continue
        when, reply = entries[0]
        sid, key = sessions[n % SESSIONS], f"u{n}"
        if reply.get("ok") is True:
            outcomes.acked[sid].add(key)
            outcomes.ack_versions[sid].append(reply["session"]["version"])
            continue
        error = reply.get("error") or {}
        code, message = error.get("code"), error.get("message", "")
        outcomes.codes[code] += 1
        outcomes.failed_at.append(worker.sent.get(str(n), when) - t0)
        if code not in OUTAGE_CODES:
            outcomes.bad_codes.append(f"{n}:{code}:{message[:80]}")
        if code in OUTAGE_CODES and UNKNOWN_OUTCOME.search(message):
            outcomes.unknown[sid].add(key)
        else:
            outcomes.failed[sid].add(key)
    return outcomes


@pytest.fixture(scope="module")
def outage(module_harness, figures):
    """Runs the kill -9 scenario once; returns what the worker replied and what Redis holds."""
    server = module_harness.start_redis("--appendonly", "yes", "--appendfsync", "always", name="durability")
    sessions = module_harness.start_sessions(server.url, "dur-agent", SESSIONS)
    worker = module_harness.start_worker(server.url, "durability", concurrency=4)
    generator = threading.Thread(target=paced_updates, args=(worker, sessions), daemon=True)
    t0 = time.monotonic()
    generator.start()
    time.sleep(max(0.0, t0 + KILL_AT - time.monotonic()))
    t_kill = time.monotonic()
    server.shut_down(signal.SIGKILL)
    time.sleep(DOWN_FOR)
    t_up = server.start()
    generator.join(timeout=30)
    run = {"server": server, "sessions": sessions, "worker": worker,
           "generator_done": not generator.is_alive(), "rc": worker.finish(timeout=30),
           "outcomes": classify(worker, sessions, t0)}
    run["final"] = {sid: module_harness.session_get(server.url, sid) for sid in sessions}
    run["fields"] = {sid: set(server.client().hgetall(session_key("opscore", sid))) for sid in sessions}
    outcomes = run["outcomes"]
    committed = {sid: committed_keys(run["final"][sid]) for sid in sessions}
    run["committed"] = committed
    failed_at = outcomes.failed_at
    figures.record(
        "durability", updates=TOTAL, kill_at_s=t_kill - t0, back_at_s=t_up - t0,
        acked=count(outcomes.acked), failed_during_outage=count(outcomes.failed) + count(outcomes.unknown),
        failed_window_s=f"{min(failed_at):.2f}-{max(failed_at):.2f}" if failed_at else "-",
        codes=dict(outcomes.codes), unknown_outcome=count(outcomes.unknown),
        unknown_committed=sum(len(outcomes.unknown[sid] & committed[sid]) for sid in sessions),
        final_versions="/".join(str(run["final"][sid]["version"]) for sid in sessions))
    return run


def count(per_session):
    """Total number of keys over all sessions."""
    return sum(len(keys) for keys in per_session.values())


def committed_keys(session):
    """The u<n> metadata keys present in a session: the updates that committed."""
    return {key for key in session["metadata"] if re.fullmatch(r"u\d+", key)}


def test_worker_keeps_reading_and_exits_0_after_the_outage(outage):
    """The worker reads all input through the outage and exits 0 at end of input."""
    assert outage["generator_done"], "the generator did not finish within 30 s (worker not reading?)"
    assert outage["rc"] == 0


def test_every_request_gets_exactly_one_reply(outage):
    """No request is left without a reply or answered twice; nothing else is printed."""
    replies = outage["worker"].replies
    ids = {str(n) for n in range(TOTAL)}
    assert sorted(ids - set(replies), key=int) == [], "requests without a reply"
    assert sorted(k for k, v in replies.items() if len(v) > 1) == [], "requests with two replies"
    assert sorted(str(k) for k in set(replies) - ids) == [], "replies to ids never sent"
    assert outage["worker"].bad_lines == []


def test_updates_during_the_outage_fail_as_redis_unavailable_or_timeout(outage):
    """The outage is observed, and reported only with the outage error codes."""
    outcomes = outage["outcomes"]
    assert count(outcomes.failed) + count(outcomes.unknown) > 0, "no request failed: the outage was not observed"
    assert outcomes.bad_codes == []


@pytest.mark.parametrize("index", range(SESSIONS))
def test_acknowledged_updates_survive_kill_9_of_redis(outage, index):
    """Every update acknowledged with ok:true is present after the restart."""
    sid = outage["sessions"][index]
    lost = outage["outcomes"].acked[sid] - outage["committed"][sid]
    assert sorted(lost) == [], f"{len(lost)} acked updates lost"


@pytest.mark.parametrize("index", range(SESSIONS))
def test_no_update_reported_as_failed_is_present(outage, index):
    """Only acked or unknown-outcome updates can be present: a failure means not applied."""
    sid = outage["sessions"][index]
    outcomes = outage["outcomes"]
    phantom = outage["committed"][sid] - outcomes.acked[sid] - outcomes.unknown[sid]
    assert sorted(phantom) == [], f"present although reported as failed: {sorted(phantom & outcomes.failed[sid])}"


@pytest.mark.parametrize("index", range(SESSIONS))
def test_version_is_one_plus_acked_plus_unknown_committed_and_gap_free(outage, index):
    """version - 1 = updates present = acked + unknown-outcome updates that committed."""
    sid = outage["sessions"][index]
    outcomes = outage["outcomes"]
    version = outage["final"][sid]["version"]
    present = outage["committed"][sid]
    assert version - 1 == len(present), "gap or double apply"
    acked, unknown = len(outcomes.acked[sid]), len(outcomes.unknown[sid])
    assert version == 1 + acked + len(outcomes.unknown[sid] & present)
    assert 1 + acked <= version <= 1 + acked + unknown


@pytest.mark.parametrize("index", range(SESSIONS))
def test_no_two_acks_report_the_same_version(outage, index):
    """Each acknowledged update got its own version."""
    versions = outage["outcomes"].ack_versions[outage["sessions"][index]]
    assert [v for v, c in collections.Counter(versions).items() if c > 1] == []


@pytest.mark.parametrize("index", range(SESSIONS))
def test_session_hash_is_never_partial(outage, index):
    """The session hash in Redis has exactly its 8 fields after the crash."""
    assert outage["fields"][outage["sessions"][index]] == SESSION_FIELDS
