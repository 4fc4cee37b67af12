"""Restarts: while Redis restarts (clean SIGTERM, then SIGKILL) under a worker
and a watcher, every request gets a reply (redis_unavailable while Redis is
down, never silence), both recover by themselves within 5 s, and both say so
on stderr.

One scenario (module fixture): a worker gets a `get` every 200 ms throughout;
Redis (AOF, appendfsync always) is stopped, left down for 1 s and restarted,
twice. After each restart an update must reach the watcher.
"""

import collections
import json
import signal
import threading
import time
from dataclasses import dataclass

import pytest

PHASES = (("clean", signal.SIGTERM), ("kill", signal.SIGKILL))
DOWN_FOR, PING_EVERY, RECOVERY_LIMIT = 1.0, 0.2, 5.0


@dataclass
class Phase:
    """One restart: when Redis went down, was launched and answered again."""

    label: str
    t_down: float
    t_launch: float
    t_up: float
    recovery: object = None       # seconds to the first successful get, or None
    reconnected: bool = False     # watcher said "reconnected to Redis"
    update_rc: object = None      # a CLI update after the restart
    event_seen: bool = False      # … and the watcher printed its event


class Pinger:
    """Sends a worker `get` of one session every PING_EVERY seconds on a thread."""

    def __init__(self, worker, session_id):
        self.worker, self.session_id = worker, session_id
        self.keys = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                key = f"g{len(self.keys)}"
                self.keys.append(key)
                self.worker.send({"id": key, "op": "get", "session_id": self.session_id})
                self._stop.wait(PING_EVERY)
        except (OSError, ValueError):
            pass    # the worker is gone (teardown): the missing replies show it

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)

    def first_success_after(self, moment, timeout):
        """Arrival time of the first ok reply to a get sent after moment, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.worker.cond:
                arrivals = [entries[0][0] for key, entries in self.worker.replies.items()
                            if key in self.keys and self.worker.sent.get(key, 0) >= moment
                            and entries[0][1].get("ok")]
            if arrivals:
                return min(arrivals)
            time.sleep(0.05)
        return None


def restart(harness, server, pinger, watcher, session_id, number, label, sig):
    """Stops Redis with sig, restarts it and measures recovery of worker and watcher."""
    t_down = server.shut_down(sig)
    time.sleep(DOWN_FOR)
    t_launch = time.monotonic()
    phase = Phase(label, t_down, t_launch, server.start())
    first_ok = pinger.first_success_after(phase.t_up, timeout=8)
    phase.recovery = None if first_ok is None else first_ok - phase.t_up
    # The watcher reconnects (backoff <= 2 s) and receives events again.
    phase.reconnected = watcher.wait_stderr(r"reconnected to Redis", count=number, timeout=8)
    version = 2 + number
    phase.update_rc = harness.opscore(server.url, "session", "update", session_id,
                                      "--metadata", json.dumps({"phase": number})).rc
    phase.event_seen = watcher.wait_event(
        lambda e: e.get("session_id") == session_id and e.get("version") == version, timeout=5) is not None
    time.sleep(0.5)
    return phase


@pytest.fixture(scope="module")
def restarts(module_harness, figures):
    """Runs the clean and the hard restart once under a worker and a watcher."""
    server = module_harness.start_redis("--appendonly", "yes", "--appendfsync", "always", name="restart")
    (sid,) = module_harness.start_sessions(server.url, "rs-agent", 1)
    watcher = module_harness.start_watcher(server.url, "restart")
    run = {"subscribed": watcher.wait_subscribed()}
    first = module_harness.opscore(server.url, "session", "update", sid, "--metadata", '{"phase":0}')
    run["event_before"] = first.rc == 0 and watcher.wait_event(lambda e: e.get("version") == 2) is not None
    worker = module_harness.start_worker(server.url, "restart", concurrency=4)
    pinger = Pinger(worker, sid)
    time.sleep(1.0)
    run["phases"] = {label: restart(module_harness, server, pinger, watcher, sid, number, label, sig)
                     for number, (label, sig) in enumerate(PHASES, start=1)}
    pinger.stop()
    worker.wait_count(len(pinger.keys), timeout=10)
    run.update(worker=worker, gets=pinger.keys, worker_rc=worker.finish(timeout=15),
               watch_rc=watcher.stop(), worker_err=worker.stderr_text(), watch_err=watcher.stderr_text())
    record_figures(figures, run)
    return run


def reply_code(worker, key):
    """ "ok", an error code, or None when the request got no reply."""
    entries = worker.replies.get(key)
    if not entries:
        return None
    reply = entries[0][1]
    return "ok" if reply.get("ok") else reply["error"]["code"]


def gets_during(run, phase):
    """The gets sent while Redis was down in this phase."""
    return [k for k in run["gets"] if phase.t_down <= run["worker"].sent[k] < phase.t_launch]


def record_figures(figures, run):
    """Records latencies, error codes and recovery times per restart."""
    worker = run["worker"]
    latencies = [worker.latency(k) for k in run["gets"] if worker.replies.get(k)]
    codes = collections.Counter(reply_code(worker, k) for k in run["gets"])
    per_phase = {}
    for label, phase in run["phases"].items():
        during = gets_during(run, phase)
        unavailable = sum(reply_code(worker, k) == "redis_unavailable" for k in during)
        per_phase[f"{label}_outage_unavailable"] = f"{unavailable}/{len(during)}"
        per_phase[f"{label}_first_success_s"] = "none" if phase.recovery is None else phase.recovery
        per_phase[f"{label}_redis_start_s"] = phase.t_up - phase.t_launch
    figures.record("restart", gets=len(run["gets"]), answered=len(latencies),
                   max_latency_s=max(latencies or [0.0]), codes=dict(codes), **per_phase,
                   worker_unavailable_lines=run["worker_err"].count("unavailable"),
                   worker_reachable_again_lines=run["worker_err"].count("reachable again"),
                   watch_lost_lines=run["watch_err"].count("lost connection"),
                   watch_resumed_lines=run["watch_err"].count("reconnected"))


def test_watcher_receives_events_before_the_restarts(restarts):
    """The watcher subscribes and prints the first update's event."""
    assert restarts["subscribed"]
    assert restarts["event_before"]


def test_every_get_gets_a_reply_through_both_restarts(restarts):
    """Never silence: each of the gets sent every 200 ms got a reply."""
    silent = [k for k in restarts["gets"] if reply_code(restarts["worker"], k) is None]
    assert silent == []


def test_the_only_error_is_redis_unavailable(restarts):
    """While Redis restarts, a get fails only with redis_unavailable."""
    codes = {reply_code(restarts["worker"], k) for k in restarts["gets"]}
    assert codes - {"ok", "redis_unavailable", None} == set()


@pytest.mark.parametrize("label", [label for label, _ in PHASES])
def test_gets_while_redis_is_down_get_redis_unavailable(restarts, label):
    """Every get sent while Redis was down was answered redis_unavailable."""
    during = gets_during(restarts, restarts["phases"][label])
    assert during, "no get was sent during the outage"
    assert [reply_code(restarts["worker"], k) for k in during] == ["redis_unavailable"] * len(during)


@pytest.mark.parametrize("label", [label for label, _ in PHASES])
def test_worker_recovers_within_5_s_of_redis_being_back(restarts, label):
    """The worker's pooled connections are replaced: a get succeeds within 5 s of Redis answering."""
    recovery = restarts["phases"][label].recovery
    assert recovery is not None and recovery < RECOVERY_LIMIT, f"first successful get after {recovery} s"


@pytest.mark.parametrize("label", [label for label, _ in PHASES])
def test_watcher_reconnects_and_receives_events_again(restarts, label):
    """watch reconnects by itself (saying so) and prints the next update's event."""
    phase = restarts["phases"][label]
    assert phase.reconnected, "watch did not say 'reconnected to Redis'"
    assert phase.update_rc == 0
    assert phase.event_seen, "the update after the restart did not reach the watcher"


def test_worker_and_watcher_exit_0(restarts):
    """The worker at end of input and watch on SIGTERM exit 0 after the restarts."""
    assert (restarts["worker_rc"], restarts["watch_rc"]) == (0, 0)


def test_worker_reports_the_outage_on_stderr(restarts):
    """The worker says on stderr that Redis was unavailable."""
    assert "unavailable" in restarts["worker_err"]


def test_watcher_reports_the_outage_and_that_it_resumed(restarts):
    """watch says on stderr that it lost Redis and that it resumed reading where it was."""
    assert "lost connection" in restarts["watch_err"]
    assert "reconnected" in restarts["watch_err"]
