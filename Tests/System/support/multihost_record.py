"""The multi-host scenario's layout, settings and record (what the checks read).

Hosts: h1, h2, h3 run ``opscore worker``, wa runs ``opscore watch``, co runs
``opscore consume``, ct is the control host; Redis sits on the bridge at
10.213.0.1. h2 is the worker host cut off; wa, the watch host, is cut off too
(its own window).
"""

import dataclasses
import json
import math
import os

from .multihost_clients import LineCollector

SUBNET = "10.213.0"
REDIS_OCTET = 1
HOST_OCTETS = {"h1": 11, "h2": 12, "h3": 13, "wa": 20, "ct": 30, "co": 40}
WORKER_HOSTS = ("h1", "h2", "h3")
WATCH_HOST, CONTROL_HOST, CUT_HOST, WITNESS_HOST, CONSUME_HOST = "wa", "ct", "h2", "h1", "co"
AGENT = "multihost-agent"
KEY_NAMESPACE = "multihost"
CONSUME_GROUP = "multihost"
CONSUMED_FILE = "consumed.jsonl"  # in the run directory: the consume handler appends each event here
# The phases of the two cuts, as they name the pings in Outcome.reachable
# ("h2 during the partition", "wa after the watch cut", …).
PARTITION_PHASE, WATCH_CUT_PHASE = "the partition", "the watch cut"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Tunables; ``from_env`` reads the MULTIHOST_* variables."""

    requests: int = 300  # per worker host, at least 300
    pace: float = 0.03  # seconds between request lines (≈ 9 s)
    concurrency: int = 4
    partition_at: float = 3.0  # seconds after the start
    partition_for: float = 3.0
    partition_mode: str = "down"  # or "drop" (nftables; needs nft)
    session_count: int = 5
    watch_cut_at: float = 4.5  # the watch host's cut, seconds after the start
    watch_cut_for: float = 3.0
    consume_wait: float = 10.0  # at most this long after the workers end for the consumer to catch up

    @classmethod
    def from_env(cls, environ=os.environ):
        """Settings from MULTIHOST_REQUESTS, _PACE, _CONCURRENCY, _PARTITION_AT, _PARTITION_FOR, _PARTITION,
        _WATCH_CUT_AT, _WATCH_CUT_FOR."""
        def number(name, default, kind):
            return kind(environ.get(f"MULTIHOST_{name}", default))
        return cls(requests=max(300, number("REQUESTS", cls.requests, int)),
                   pace=number("PACE", cls.pace, float),
                   concurrency=number("CONCURRENCY", cls.concurrency, int),
                   partition_at=number("PARTITION_AT", cls.partition_at, float),
                   partition_for=number("PARTITION_FOR", cls.partition_for, float),
                   partition_mode=environ.get("MULTIHOST_PARTITION", cls.partition_mode),
                   watch_cut_at=number("WATCH_CUT_AT", cls.watch_cut_at, float),
                   watch_cut_for=number("WATCH_CUT_FOR", cls.watch_cut_for, float))

    @property
    def feed_seconds(self):
        """How long feeding one worker its requests takes."""
        return math.ceil(self.requests * self.pace)


@dataclasses.dataclass
class WorkerRecord:
    """One worker host: what it was sent and when, what it answered, how it ended."""

    tag: str
    requests: list
    sent: dict = dataclasses.field(default_factory=dict)  # request id -> seconds since start
    replies: LineCollector = None
    started: float = 0.0
    exit_status: int = None
    exit_after: float = None
    feed_error: str = None


@dataclasses.dataclass
class Outcome:
    """Everything the checks need, recorded by one run of the scenario."""

    settings: Settings
    run_dir: str
    reachable: dict = dataclasses.field(default_factory=dict)  # "tag phase" -> ping result
    watcher_subscribed: bool = False
    sessions: list = dataclasses.field(default_factory=list)
    workers: dict = dataclasses.field(default_factory=dict)  # tag -> WorkerRecord
    # "cut"/"restored" (h2), "watch_cut"/"watch_restored" (wa) -> ms since start
    partition_ms: dict = dataclasses.field(default_factory=dict)
    final: dict = dataclasses.field(default_factory=dict)  # session id -> decoded hash
    # Every entry of the 16 event streams once the workers ended: (partition, stream id, event JSON text)
    feed: list = dataclasses.field(default_factory=list)
    watch_out: list = dataclasses.field(default_factory=list)
    watch_err: list = dataclasses.field(default_factory=list)
    consumed: list = dataclasses.field(default_factory=list)  # the handler's output file, line by line
    consume_err: list = dataclasses.field(default_factory=list)
    consume_caught_up_ms: int = None  # after the workers ended; None: not within Settings.consume_wait
    pending: dict = dataclasses.field(default_factory=dict)  # partition -> XPENDING count (or error text)
    consumer_exit_status: int = None  # on SIGTERM; None: it did not exit
    hung: list = dataclasses.field(default_factory=list)  # problems of check e
    watcher_exit_ms: int = None  # after SIGTERM
    consumer_exit_ms: int = None  # after SIGTERM
    log: list = dataclasses.field(default_factory=list)  # the steps, as reported

    def tail(self, limit=8):
        """The steps taken, and the last lines of every non-empty stderr file and the Redis log."""
        chunks = ["--- steps ---", *self.log]
        for name in sorted(os.listdir(self.run_dir)) + ["redis/redis.log"]:
            path = os.path.join(self.run_dir, name)
            if (name.endswith(".err") or name.endswith(".log")) and os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()[-limit:]
                if lines:
                    chunks.append(f"--- last lines of {name} ---\n" + "\n".join(lines))
        return "\n".join(chunks)


def request_stream(tag, sessions, count):
    """Host TAG's requests: update i sets metadata {"<tag>-<i>": i} on session i mod N."""
    return [{"id": f"{tag}-{i}", "op": "update", "session_id": sessions[(i - 1) % len(sessions)],
             "metadata": {f"{tag}-{i}": i}} for i in range(1, count + 1)]


def decode_hash(fields):
    """A session hash as the checks read it: metadata parsed, version an int."""
    if not fields:
        return None
    state = dict(fields)
    try:
        state["metadata"] = json.loads(state.get("metadata", "null"))
    except ValueError:
        state["metadata"] = None
    version = state.get("version", "")
    state["version"] = int(version) if version.isdigit() else None
    return state
