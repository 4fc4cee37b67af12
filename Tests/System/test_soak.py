"""Soak: SOAK_REQUESTS updates (default 200,000) to 50 sessions through one
worker; resident memory grows at most 20 MiB after the warm-up, every update
is acknowledged and counted in the versions. Throughput is reported.

SOAK_MAX_SECONDS (default 150) bounds the run.
"""

import collections
import json
import os
import threading
import time

import pytest

from support.layout import session_key

TOTAL = int(os.environ.get("SOAK_REQUESTS", "200000"))
WARMUP = min(20000, TOTAL // 10)
BUDGET = float(os.environ.get("SOAK_MAX_SECONDS", "150"))
SESSIONS = 50
RSS_GROWTH_LIMIT_KIB = 20 * 1024

pytestmark = pytest.mark.timeout(BUDGET + 60)


class ReplyCounter:
    """Reads the worker's reply lines on a thread: counts ok and error codes,
    samples RSS after the warm-up and about once a second."""

    def __init__(self, worker):
        self.worker = worker
        self.count = self.ok = 0
        self.errors = collections.Counter()
        self.warm_rss = self.warm_t = self.end_t = None
        self.peak_rss = 0
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        last_sample = time.monotonic()
        try:
            for line in self.worker.proc.stdout:
                self._count(line)
                if self.count == WARMUP:
                    self.warm_rss, self.warm_t = self.worker.rss_kib(), time.monotonic()
                if self.count & 1023 == 0 and time.monotonic() - last_sample > 1:
                    self.peak_rss = max(self.peak_rss, self.worker.rss_kib())
                    last_sample = time.monotonic()
                if self.count == TOTAL:
                    break
        except (OSError, ValueError):
            pass
        self.end_t = time.monotonic()
        self.done.set()

    def _count(self, line):
        self.count += 1
        if b'"ok":true' in line:
            self.ok += 1
            return
        try:
            self.errors[json.loads(line)["error"]["code"]] += 1
        except (ValueError, KeyError, TypeError):
            self.errors["unparsable"] += 1


def start_soak_sessions(worker):
    """Registers agent `soak` and starts SESSIONS sessions through the worker itself."""
    worker.write(b'{"id":"reg","op":"register_agent","agent_id":"soak"}\n')
    registered = json.loads(worker.proc.stdout.readline())
    assert registered.get("ok"), f"register_agent failed: {registered}"
    requests = [{"id": f"s{i}", "op": "start", "agent_id": "soak", "workflow_id": "soak"} for i in range(SESSIONS)]
    worker.write("".join(json.dumps(r) + "\n" for r in requests).encode())
    replies = [json.loads(worker.proc.stdout.readline()) for _ in requests]
    return [r["session"]["session_id"] for r in replies if r.get("ok")]


def write_updates(worker, sessions):
    """Writes TOTAL update lines in chunks of 2000 (a write blocks while the worker is busy)."""
    ids = [s.encode() for s in sessions]
    chunk = []
    try:
        for n in range(TOTAL):
            chunk.append(b'{"id":%d,"op":"update","session_id":"%s","metadata":{"k":%d}}\n'
                         % (n, ids[n % SESSIONS], n % 100))
            if len(chunk) == 2000:
                worker.write(b"".join(chunk))
                chunk = []
        if chunk:
            worker.write(b"".join(chunk))
    except (OSError, ValueError):
        pass    # the worker is gone: the counts show it


@pytest.fixture(scope="module")
def soak(module_harness, figures):
    """Runs the soak once: updates through one worker while its RSS is sampled."""
    server = module_harness.start_redis(name="soak")
    worker = module_harness.start_worker(server.url, "soak", concurrency=4, read_replies=False)
    sessions = start_soak_sessions(worker)
    assert len(sessions) == SESSIONS, f"only {len(sessions)} of {SESSIONS} sessions started"
    counter = ReplyCounter(worker)
    t0 = time.monotonic()
    threading.Thread(target=write_updates, args=(worker, sessions), daemon=True).start()
    finished = counter.done.wait(BUDGET)
    elapsed = (counter.end_t or time.monotonic()) - t0
    end_rss = worker.rss_kib()
    client = server.client()
    run = {"finished": finished, "counter": counter, "end_rss": end_rss, "rc": worker.finish(timeout=15),
           "version_sum": sum(int(client.hget(session_key("opscore", s), "version")) - 1 for s in sessions)}
    steady = (counter.count - WARMUP) / (t0 + elapsed - counter.warm_t) if counter.warm_t else 0.0
    figures.record("soak", updates=TOTAL, sessions=SESSIONS, seconds=elapsed, ok=counter.ok,
                   req_per_s=round(counter.count / elapsed) if elapsed else 0, req_per_s_after_warmup=round(steady),
                   warmup_requests=WARMUP, rss_after_warmup_kib=counter.warm_rss, rss_end_kib=end_rss,
                   rss_growth_kib=None if counter.warm_rss is None else end_rss - counter.warm_rss,
                   rss_peak_kib=max(counter.peak_rss, end_rss), version_sum=run["version_sum"])
    return run


def test_every_update_is_answered_within_the_time_budget(soak):
    """All SOAK_REQUESTS replies arrive within SOAK_MAX_SECONDS."""
    counter = soak["counter"]
    assert soak["finished"], f"only {counter.count} of {TOTAL} replies within {BUDGET:.0f} s"


def test_every_update_is_acknowledged(soak):
    """No update fails under sustained load."""
    counter = soak["counter"]
    assert (counter.ok, dict(counter.errors)) == (TOTAL, {})


def test_versions_count_every_acknowledged_update(soak):
    """The sum of (version - 1) over the 50 sessions is the number of acks."""
    assert soak["version_sum"] == soak["counter"].ok


def test_resident_memory_grows_at_most_20_mib_after_warm_up(soak):
    """No leak: RSS at the end is at most 20 MiB above RSS after the warm-up."""
    warm = soak["counter"].warm_rss
    assert warm is not None, "no RSS sample after the warm-up"
    assert soak["end_rss"] - warm <= RSS_GROWTH_LIMIT_KIB


def test_worker_exits_0_at_end_of_input(soak):
    """After the soak the worker finishes and exits 0 at end of input."""
    assert soak["rc"] == 0
