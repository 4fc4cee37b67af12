"""The multi-host Sentinel scenario, run once by ``run_scenario``, and its checks.

Hosts, each its own network namespace on one bridge: n1 (the first primary),
n2 and n3 (its replicas), s1, s2 and s3 (sentinels monitoring n1 as
``opsmain``, quorum 2), w1 and w2 (``opscore --wait-replicas 1 worker``
through a ``redis-sentinel://`` URL naming the three sentinels) and ct, the
control host (``opscore`` for the set-up, redis-py for every look at Redis).
The data nodes share one password, kept in 0600 files, never in argv.

A few seconds into the run n1's link goes down; the sentinels promote n2 or n3
and the workers go on through it. n1's link comes back a while later; the
sentinels make it a replica of the new primary. The scenario records the
requests, the replies, what the sentinels said and when, what n1 held while it
still called itself primary, and the final state of the new primary and of n1;
the ``check_*`` functions judge that record, one guarantee each.
"""

import collections
import dataclasses
import json
import math
import os
import secrets
import subprocess
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .layout import PARTITIONS, event_stream_key, session_key
from .multihost_checks import Verdict, short
from .multihost_checks import replies as one_reply_each
from .multihost_clients import OpsCoreHost, await_exit, redis_event_feed, redis_session_hashes, start_paced_worker
from .multihost_record import WorkerRecord, decode_hash, request_stream

# ---------------------------------------------------------------- layout
SUBNET = "10.214.0"  # test_multihost.py uses 10.213.0
HUB_OCTET = 1
DATA_OCTETS = {"n1": 11, "n2": 12, "n3": 13}
SENTINEL_OCTETS = {"s1": 21, "s2": 22, "s3": 23}
WORKER_OCTETS = {"w1": 31, "w2": 32}
CONTROL_HOST, CONTROL_OCTET = "ct", 40
FIRST_PRIMARY = "n1"
DATA_PORT, SENTINEL_PORT = 6379, 26379
MASTER_NAME, QUORUM = "opsmain", 2
SENTINEL_SETTINGS = ("down-after-milliseconds {name} 1000", "failover-timeout {name} 5000",
                     "parallel-syncs {name} 1")
AGENT, KEY_NAMESPACE = "sentinel-agent", "mhsentinel"
# A failover costs in-flight requests these, never a silent loss; not_replicated:
# committed on a primary that no replica confirmed (it may be lost).
ALLOWED_FAILURE_CODES = {"redis_unavailable", "redis_timeout", "not_replicated", "conflict"}
MAY_BE_COMMITTED_CODES = {"not_replicated"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Tunables; ``from_env`` reads the MULTIHOST_SENTINEL_* variables."""

    requests: int = 340  # per worker host
    pace: float = 0.05  # seconds between request lines (≈ 17 s)
    concurrency: int = 4
    session_count: int = 4
    cut_at: float = 3.0  # n1's link goes down this long after the workers start
    cut_for: float = 10.0
    settled_after: float = 8.0  # requests sent this long after the cut must all succeed
    rejoin_within: float = 15.0  # n1 must be a replica of the new primary this long after its link is back

    @classmethod
    def from_env(cls, environ=os.environ):
        """Settings from MULTIHOST_SENTINEL_REQUESTS, _PACE, _CONCURRENCY, _CUT_AT, _CUT_FOR, _SETTLED_AFTER."""
        def number(name, default, kind):
            return kind(environ.get(f"MULTIHOST_SENTINEL_{name}", default))
        return cls(requests=number("REQUESTS", cls.requests, int), pace=number("PACE", cls.pace, float),
                   concurrency=number("CONCURRENCY", cls.concurrency, int),
                   cut_at=number("CUT_AT", cls.cut_at, float), cut_for=number("CUT_FOR", cls.cut_for, float),
                   settled_after=number("SETTLED_AFTER", cls.settled_after, float))

    @property
    def feed_seconds(self):
        """How long feeding one worker its requests takes."""
        return math.ceil(self.requests * self.pace)


@dataclasses.dataclass
class Outcome:
    """Everything the checks need, recorded by one run of the scenario."""

    settings: Settings
    run_dir: str
    addresses: dict = dataclasses.field(default_factory=dict)  # host tag -> IP
    sessions: list = dataclasses.field(default_factory=list)
    workers: dict = dataclasses.field(default_factory=dict)  # tag -> WorkerRecord
    # ms since the workers started: "cut", "restored", "first_switch" (a sentinel names another
    # primary), "all_switched" (all three name the same new one), "new_primary_replicated" (it has an
    # online replica), "old_primary_replica" (n1 replicates from the new primary, link up)
    timeline: dict = dataclasses.field(default_factory=dict)
    cut_wall_ms: int = None  # the cut, as a Redis stream id's milliseconds
    reachable: dict = dataclasses.field(default_factory=dict)  # "what when" -> PING result
    new_primary: str = None  # host tag the sentinels agree on at the end
    new_primary_role: list = None
    sentinel_views: dict = dataclasses.field(default_factory=dict)  # sentinel tag -> address, at the end
    # n1 after its link came back, one atomic look every ~0.1 s: dicts from node_snapshot; the first
    # ones, while it still calls itself primary, show what it held when it was cut off
    old_primary_looks: list = dataclasses.field(default_factory=list)
    old_primary_role: list = None  # ROLE, once the scenario stopped waiting for it
    old_primary_in_sync: bool = False
    final: dict = dataclasses.field(default_factory=dict)  # session id -> decoded hash, on the new primary
    feed: list = dataclasses.field(default_factory=list)  # the new primary's streams: (partition, id, text)
    old_final: dict = dataclasses.field(default_factory=dict)  # the same, on n1 at the end
    old_feed: list = dataclasses.field(default_factory=list)
    hung: list = dataclasses.field(default_factory=list)
    log: list = dataclasses.field(default_factory=list)

    def tail(self, limit=8):
        """The steps taken, and the last lines of every stderr file and Redis or Sentinel log."""
        chunks = ["--- steps ---", *self.log]
        for directory, _, names in sorted(os.walk(self.run_dir)):
            for name in sorted(names):
                if not (name.endswith(".err") or name.endswith(".log")):
                    continue
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()[-limit:]
                if lines:
                    chunks.append(f"--- last lines of {os.path.relpath(path, self.run_dir)} ---\n" + "\n".join(lines))
        return "\n".join(chunks)


# ---------------------------------------------------------------- redis-py, called inside a namespace
def client(address, port, password=None, timeout=1.0):
    """A redis-py client that fails fast: TIMEOUT s to connect or answer, no retries."""
    return redis.Redis(host=address, port=port, password=password, decode_responses=True,
                       socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))


def quietly(address, port, password, ask, timeout=1.0):
    """ask(client), or the error's text when the server does not answer."""
    connection = client(address, port, password, timeout)
    try:
        return ask(connection)
    except (redis.RedisError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        connection.close()


def data_ping(address, password, timeout=1.0):
    """'PONG' when the data node answers PING, else what went wrong."""
    return quietly(address, DATA_PORT, password, lambda c: "PONG" if c.ping() else "no PONG", timeout)


def sentinel_primaries(addresses, timeout=0.5):
    """Sentinel address -> the primary's IP it names for MASTER_NAME (or what went wrong)."""
    def ask(connection):
        found = connection.sentinel_get_master_addr_by_name(MASTER_NAME)
        return found[0] if found else "none"
    return {address: quietly(address, SENTINEL_PORT, None, ask, timeout) for address in addresses}


def sentinel_knowledge(addresses):
    """Sentinel address -> (replicas, other sentinels) it knows of, or what went wrong."""
    def ask(connection):
        return (len(connection.sentinel_slaves(MASTER_NAME)), len(connection.sentinel_sentinels(MASTER_NAME)))
    return {address: quietly(address, SENTINEL_PORT, None, ask) for address in addresses}


def replication_info(address, password):
    """INFO replication of a data node (a dict), or what went wrong."""
    return quietly(address, DATA_PORT, password, lambda c: c.info("replication"))


def role(address, password):
    """ROLE of a data node (a list), or what went wrong."""
    return quietly(address, DATA_PORT, password, lambda c: list(c.role()))


def node_snapshot(address, password, namespace, after_ms, session_ids):
    """One atomic look (MULTI) at a data node: its role, what it replicates from,
    its count of changes (rdb_changes_since_last_save; nothing is saved here), its
    event-stream entries newer than AFTER_MS and the hashes of SESSION_IDS."""
    def look(connection):
        pipeline = connection.pipeline(transaction=True)
        pipeline.info("replication")
        pipeline.info("persistence")
        for label in PARTITIONS:
            pipeline.xrange(event_stream_key(namespace, label), min=str(after_ms + 1), max="+")
        for session_id in session_ids:
            pipeline.hgetall(session_key(namespace, session_id))
        replication, persistence, *rest = pipeline.execute()
        ranges, hashes = rest[:len(PARTITIONS)], rest[len(PARTITIONS):]
        return {"role": replication.get("role"), "master_host": replication.get("master_host"),
                "link": replication.get("master_link_status"),
                "changes": persistence.get("rdb_changes_since_last_save"),
                "newer": [(label, entry_id, fields.get("event"))
                          for label, entries in zip(PARTITIONS, ranges) for entry_id, fields in entries],
                "hashes": {sid: decode_hash(fields) for sid, fields in zip(session_ids, hashes) if fields}}
    found = quietly(address, DATA_PORT, password, look, timeout=0.5)
    return found if isinstance(found, dict) else {"error": found}


# ---------------------------------------------------------------- the scenario
class Scenario:
    """Runs the steps in order inside a NetworkLab; see ``run_scenario``."""

    def __init__(self, lab, binary, settings, run_dir):
        self.lab, self.binary, self.settings, self.run_dir = lab, binary, settings, run_dir
        self.password = secrets.token_hex(16)
        self.outcome = Outcome(settings, run_dir)
        self.secret_files = []
        self.start = None
        self.restored_at = None
        self.observing = threading.Event()
        self.failures = []  # raised on another thread, re-raised on the scenario's

    def report(self, line):
        """Logs a step: printed (pytest shows it when a test fails) and kept in the outcome."""
        self.outcome.log.append(line)
        print(f"multihost-sentinel: {line}", flush=True)

    def since_start_ms(self):
        return round((time.monotonic() - self.start) * 1000)

    def ip(self, tag):
        return self.hosts[tag].address

    @property
    def sentinel_addresses(self):
        return [self.ip(tag) for tag in SENTINEL_OCTETS]

    def from_control(self, function, *args, timeout=30):
        """FUNCTION(*ARGS) with redis-py, from inside the control host."""
        return self.hosts[CONTROL_HOST].call(function, *args, timeout=timeout)

    # ------------------------------------------------------------ network and servers
    def build_network(self):
        """The hub with the bridge, and one namespace per host."""
        self.lab.start_hub(HUB_OCTET)
        octets = {**DATA_OCTETS, **SENTINEL_OCTETS, **WORKER_OCTETS, CONTROL_HOST: CONTROL_OCTET}
        self.hosts = {tag: self.lab.add_host(tag, octet) for tag, octet in octets.items()}
        self.outcome.addresses = {tag: host.address for tag, host in self.hosts.items()}
        self.report(f"setup: namespaces {' '.join(h.namespace for h in self.hosts.values())} "
                    f"on bridge {self.lab.bridge} ({SUBNET}.0/24)")

    def secret_file(self, directory, name, lines):
        """A 0600 file of LINES in a 0700 directory; removed by forget_password()."""
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = os.path.join(directory, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write("".join(f"{line}\n" for line in lines))
        self.secret_files.append(path)
        return path

    def start_data_nodes(self):
        """n1 as primary, n2 and n3 as its replicas; waits until both replicate with their link up."""
        primary = self.ip(FIRST_PRIMARY)
        for tag in DATA_OCTETS:
            directory = os.path.join(self.run_dir, tag)
            conf = self.secret_file(directory, "redis.conf",
                                    [f"requirepass {self.password}", f"masterauth {self.password}"])
            follow = [] if tag == FIRST_PRIMARY else ["--replicaof", primary, str(DATA_PORT)]
            self.hosts[tag].popen(
                ["redis-server", conf, "--bind", self.ip(tag), "--port", str(DATA_PORT), "--protected-mode", "no",
                 "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", directory,
                 "--daemonize", "no", "--logfile", os.path.join(directory, "redis.log"), *follow],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_for("the replicas to sync from n1", 10, lambda: all(
            self.replicates_from(tag, primary) for tag in DATA_OCTETS if tag != FIRST_PRIMARY))
        self.report(f"setup: n1 ({primary}) primary, n2 and n3 replicate from it (password in 0600 files)")

    def replicates_from(self, tag, primary_ip):
        """True when data node TAG replicates from PRIMARY_IP with its link up."""
        info = self.from_control(replication_info, self.ip(tag), self.password)
        return (isinstance(info, dict) and info.get("role") == "slave" and info.get("master_host") == primary_ip
                and info.get("master_link_status") == "up")

    def start_sentinels(self):
        """Three sentinels, each with its own config file and directory, bound to its host's address;
        waits until each knows both replicas and the two other sentinels."""
        for tag in SENTINEL_OCTETS:
            directory = os.path.join(self.run_dir, tag)
            lines = [f"port {SENTINEL_PORT}", f"bind {self.ip(tag)}", "protected-mode no", "daemonize no",
                     f"dir {directory}", f"logfile {os.path.join(directory, 'sentinel.log')}",
                     f"sentinel monitor {MASTER_NAME} {self.ip(FIRST_PRIMARY)} {DATA_PORT} {QUORUM}",
                     f"sentinel auth-pass {MASTER_NAME} {self.password}"]
            lines += [f"sentinel {setting.format(name=MASTER_NAME)}" for setting in SENTINEL_SETTINGS]
            conf = self.secret_file(directory, "sentinel.conf", lines)
            self.hosts[tag].popen(["redis-server", conf, "--sentinel"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        expected = (len(DATA_OCTETS) - 1, len(SENTINEL_OCTETS) - 1)
        self.wait_for("every sentinel to know 2 replicas and 2 other sentinels", 20, lambda: all(
            known == expected for known in self.from_control(sentinel_knowledge, self.sentinel_addresses).values()))
        self.report(f"setup: sentinels {', '.join(self.sentinel_addresses)} monitor {MASTER_NAME} "
                    f"(quorum {QUORUM}) and know every node")

    def wait_for(self, what, timeout, ready):
        """Polls READY() every 0.1 s; raises with the steps and logs after TIMEOUT s."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"setup: waited {timeout} s for {what}\n{self.outcome.tail()}")
            time.sleep(0.1)

    # ------------------------------------------------------------ opscore
    def sentinel_url(self):
        """The redis-sentinel:// URL naming the three sentinels (with the data nodes' password)."""
        hosts = ",".join(f"{address}:{SENTINEL_PORT}" for address in self.sentinel_addresses)
        return f"redis-sentinel://:{self.password}@{hosts}/0?timeout=1#{MASTER_NAME}"

    def opscore(self, tag):
        """The opscore binary on host TAG (its own OPSCORE_ORIGIN); the URL goes in the environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCORE_")}
        env.update(OPSCORE_REDIS_URL=self.sentinel_url(), OPSCORE_NAMESPACE=KEY_NAMESPACE, OPSCORE_ORIGIN=tag)
        return OpsCoreHost(self.binary, self.hosts[tag], env)

    def prepare_opscore(self):
        """Registers the agent and starts the sessions from the control host, through the sentinels."""
        control = self.opscore(CONTROL_HOST)
        done = control.run("--wait-replicas", "1", "agent", "register", AGENT)
        if done.returncode != 0:
            raise RuntimeError(f"opscore agent register {AGENT}: exit {done.returncode}: {done.stderr}")
        for _ in range(self.settings.session_count):
            started = control.json("--wait-replicas", "1", "session", "start", "--agent", AGENT, "--workflow", "wf")
            self.outcome.sessions.append(started["session_id"])
        self.report(f"sessions (through the sentinels): {','.join(self.outcome.sessions)}")

    # ------------------------------------------------------------ the run
    def start_worker(self, tag):
        """`opscore --wait-replicas 1 worker` on host TAG and the thread feeding it its paced requests."""
        record = WorkerRecord(tag, request_stream(tag, self.outcome.sessions, self.settings.requests))
        self.outcome.workers[tag] = record
        return start_paced_worker(self.opscore(tag), record, os.path.join(self.run_dir, f"{tag}.err"),
                                  self.settings.concurrency, self.settings.pace, self.start,
                                  global_args=("--wait-replicas", "1"))

    def cut_primary(self):
        """n1's link down at CUT_AT for CUT_FOR s, then up again; pings show it mattered."""
        s, n1 = self.settings, self.hosts[FIRST_PRIMARY]
        time.sleep(max(0.0, self.start + s.cut_at - time.monotonic()))
        n1.set_link(False)
        cut_at = time.monotonic()
        self.outcome.cut_wall_ms = int(time.time() * 1000)
        self.outcome.timeline["cut"] = self.since_start_ms()
        self.report(f"n1's link down at {self.outcome.timeline['cut']} ms")
        self.outcome.reachable["n1 from ct during the cut"] = self.from_control(
            data_ping, self.ip(FIRST_PRIMARY), self.password)
        time.sleep(max(0.0, cut_at + s.cut_for - time.monotonic()))
        n1.set_link(True)
        self.restored_at = time.monotonic()
        self.outcome.timeline["restored"] = self.since_start_ms()
        self.report(f"n1's link up again at {self.outcome.timeline['restored']} ms")

    def observe(self):
        """Until told to stop: every ~0.1 s, what the sentinels name as primary, whether the new
        primary has a replica online, and (once its link is back) an atomic look at n1."""
        old = self.ip(FIRST_PRIMARY)
        replicas = {self.ip(tag) for tag in DATA_OCTETS if tag != FIRST_PRIMARY}
        timeline, seen_switch = self.outcome.timeline, set()
        while not self.observing.wait(0.1):
            views = self.from_control(sentinel_primaries, self.sentinel_addresses)
            named = set(views.values()) & replicas
            if named and "first_switch" not in timeline:
                timeline["first_switch"] = self.since_start_ms()
            if len(named) == 1 and len(set(views.values())) == 1 and "all_switched" not in timeline:
                timeline["all_switched"] = self.since_start_ms()
                seen_switch.add(named.pop())
            if seen_switch and "new_primary_replicated" not in timeline:
                info = self.from_control(replication_info, next(iter(seen_switch)), self.password)
                if isinstance(info, dict) and any(isinstance(v, dict) and v.get("state") == "online"
                                                  for k, v in info.items() if k.startswith("slave")):
                    timeline["new_primary_replicated"] = self.since_start_ms()
            if self.restored_at is not None:
                look = self.from_control(node_snapshot, old, self.password, KEY_NAMESPACE, self.outcome.cut_wall_ms,
                                         self.outcome.sessions)
                look["ms"] = self.since_start_ms()
                self.outcome.old_primary_looks.append(look)
                if (look.get("role") == "slave" and look.get("master_host") in seen_switch
                        and look.get("link") == "up" and "old_primary_replica" not in timeline):
                    timeline["old_primary_replica"] = look["ms"]
                    self.report(f"n1 replicates from {look['master_host']} at {look['ms']} ms")

    def run_workers(self):
        """Two paced workers, n1's cut and return, then every worker's end."""
        s = self.settings
        self.start = time.monotonic()
        started = {tag: self.start_worker(tag) for tag in WORKER_OCTETS}
        observer = threading.Thread(target=self.guarded, args=(self.observe,), name="observe", daemon=True)
        observer.start()
        self.report(f"{len(started)} workers x {s.requests} requests over ~{s.feed_seconds} s, "
                    f"--concurrency {s.concurrency} --wait-replicas 1")
        try:
            self.cut_primary()
            for tag, (process, feeder) in started.items():
                feeder.join(max(0.0, self.start + s.feed_seconds + 10 - time.monotonic()))
                if feeder.is_alive() or self.outcome.workers[tag].feed_error:
                    self.report(f"feeder for {tag}: {self.outcome.workers[tag].feed_error or 'did not finish'}")
            for tag, (process, _) in started.items():
                self.await_worker(self.outcome.workers[tag], process, s.feed_seconds + 15)
            self.await_rejoin()
        finally:
            self.observing.set()
            observer.join(10)
        if self.failures:
            raise self.failures[0]
        self.report("timeline (ms since the workers started): "
                    + " ".join(f"{k}={v}" for k, v in sorted(self.outcome.timeline.items(), key=lambda kv: kv[1])))

    def guarded(self, function):
        """FUNCTION() on a thread; its exception is re-raised by run_workers."""
        try:
            function()
        except BaseException as error:  # handed to the scenario's thread
            self.failures.append(error)

    def await_worker(self, record, process, limit):
        """Waits for a worker to exit on its own within LIMIT s of its start; else kills it."""
        problem = await_exit(record, process, limit)
        if problem:
            self.outcome.hung.append(problem)
        if record.exit_after is not None:  # it exited (it was not killed)
            self.report(f"worker {record.tag} exited {record.exit_status} after {record.exit_after:.1f} s")

    def await_rejoin(self):
        """Waits (at most REJOIN_WITHIN s after n1's link came back) until n1 replicates from the new primary."""
        deadline = self.restored_at + self.settings.rejoin_within
        while "old_primary_replica" not in self.outcome.timeline and time.monotonic() < deadline:
            time.sleep(0.1)

    # ------------------------------------------------------------ the end
    def read_final_state(self):
        """Which primary the sentinels agree on, its data, and n1's role and data once it has caught up."""
        views = self.from_control(sentinel_primaries, self.sentinel_addresses)
        by_address = {host.address: tag for tag, host in self.hosts.items()}
        self.outcome.sentinel_views = {tag: views[self.ip(tag)] for tag in SENTINEL_OCTETS}
        named = set(views.values())
        if len(named) != 1 or next(iter(named)) not in by_address:
            self.report(f"the sentinels do not agree on a primary: {self.outcome.sentinel_views}")
            return
        primary = next(iter(named))
        self.outcome.new_primary = by_address[primary]
        self.outcome.new_primary_role = self.from_control(role, primary, self.password)
        self.outcome.old_primary_role = self.from_control(role, self.ip(FIRST_PRIMARY), self.password)
        self.outcome.old_primary_in_sync = self.caught_up(primary, self.ip(FIRST_PRIMARY))
        self.outcome.final, self.outcome.feed = self.read_data(primary)
        self.outcome.old_final, self.outcome.old_feed = self.read_data(self.ip(FIRST_PRIMARY))
        self.report(f"final: primary {self.outcome.new_primary} ({primary}) ROLE {self.outcome.new_primary_role}; "
                    f"n1 ROLE {self.outcome.old_primary_role}; {len(self.outcome.feed)} events on the primary, "
                    f"{len(self.outcome.old_feed)} on n1")

    def caught_up(self, primary, replica, timeout=5.0):
        """True once REPLICA's replication offset equals PRIMARY's (nothing is written any more)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ours = self.from_control(replication_info, primary, self.password)
            theirs = self.from_control(replication_info, replica, self.password)
            if (isinstance(ours, dict) and isinstance(theirs, dict) and theirs.get("master_link_status") == "up"
                    and ours.get("master_repl_offset") == theirs.get("slave_repl_offset")):
                return True
            time.sleep(0.1)
        return False

    def read_data(self, address):
        """(session id -> decoded hash, stream entries) of one data node; empty when it does not answer."""
        try:
            hashes = self.from_control(redis_session_hashes, address, self.password, KEY_NAMESPACE,
                                       self.outcome.sessions)
            feed = self.from_control(redis_event_feed, address, self.password, KEY_NAMESPACE)
        except (redis.RedisError, OSError) as error:
            self.report(f"could not read {address}: {type(error).__name__}: {error}")
            return {}, []
        return {sid: decode_hash(fields) for sid, fields in hashes.items() if fields}, feed

    def forget_password(self):
        """Removes the files holding the password (also when the run failed)."""
        for path in self.secret_files:
            if os.path.exists(path):
                os.remove(path)


def run_scenario(lab, binary, settings, run_dir):
    """Runs the whole scenario in LAB; returns its Outcome. Cleanup is LAB's job."""
    scenario = Scenario(lab, binary, settings, run_dir)
    try:
        scenario.build_network()
        scenario.start_data_nodes()
        scenario.start_sentinels()
        scenario.prepare_opscore()
        scenario.run_workers()
        scenario.read_final_state()
    finally:
        scenario.forget_password()
    return scenario.outcome


# ---------------------------------------------------------------- the checks
def failure_code(an, rid):
    reply = an.single(rid)
    return None if reply is None or reply.get("ok") is True else an.error_of(reply).get("code")


def maybe_committed(an, rid):
    """True when RID's reply leaves it open whether the change is in Redis: an unknown
    outcome, or committed on a primary but not confirmed by a replica."""
    return rid in an.unknown_outcome or failure_code(an, rid) in MAY_BE_COMMITTED_CODES


def check_failover(an):
    """n1 was really cut off, the sentinels agreed on a replica as the new primary, and it has a replica."""
    out, problems = an.outcome, []
    ping = out.reachable.get("n1 from ct during the cut")
    if ping == "PONG":
        problems.append("n1 still answered the control host while its link was down")
    if out.new_primary not in DATA_OCTETS or out.new_primary == FIRST_PRIMARY:
        problems.append(f"the sentinels name no replica as the new primary: {out.sentinel_views}")
    if not (isinstance(out.new_primary_role, list) and out.new_primary_role[:1] == ["master"]):
        problems.append(f"ROLE of the new primary {out.new_primary}: {out.new_primary_role}")
    elif len(out.new_primary_role[2]) < 1:
        problems.append(f"the new primary {out.new_primary} has no replica at the end")
    for mark in ("first_switch", "all_switched", "new_primary_replicated"):
        if mark not in out.timeline:
            problems.append(f"never seen during the run: {mark}")
    cut = out.timeline.get("cut", 0)
    figures = {"cut_ms": out.timeline.get("cut"), "new_primary": out.new_primary}
    for mark in ("first_switch", "all_switched", "new_primary_replicated"):
        if mark in out.timeline:
            figures[f"{mark}_after_cut_ms"] = out.timeline[mark] - cut
    return Verdict(figures, problems)


def check_replies(an):
    """Every request got exactly one reply, from the worker it was sent to, and every worker took all its input."""
    verdict = one_reply_each(an)
    verdict.problems += [f"feeding {tag}: {run.feed_error}"
                         for tag, run in an.outcome.workers.items() if run.feed_error]
    return verdict


def check_failure_codes(an):
    """Failures only say redis_unavailable, redis_timeout, not_replicated or conflict."""
    codes, problems = collections.Counter(), []
    for rid, error in an.failures():  # duplicates included
        codes[str(error.get("code"))] += 1
        if error.get("code") not in ALLOWED_FAILURE_CODES:
            problems.append(f"{rid}: error code {error.get('code')!r}: {str(error.get('message', ''))[:160]}")
    figures = dict(sorted(codes.items()))
    figures["outcome_unknown"] = len(an.unknown_outcome)
    return Verdict(figures, problems)


def check_acknowledged(an):
    """Every acknowledged update is on the new primary: in the session's hash, and
    its event (the version its reply gave) in the partition's stream, naming its worker."""
    out, problems = an.outcome, []
    problems += [f"no hash for session {short(sid)} on the new primary" for sid in an.sessions if sid not in an.final]
    present = events = 0
    events_by_key = {}
    for _, _, text in out.feed:
        try:
            event = json.loads(text)
            events_by_key[(event["session_id"], event["version"])] = event
        except (TypeError, ValueError, KeyError):
            continue
    for rid in sorted(an.acked):
        request, reply = an.requests[rid], an.single(rid)
        session = reply.get("session") if isinstance(reply.get("session"), dict) else {}
        metadata = (an.final.get(request["session"]) or {}).get("metadata")
        if isinstance(metadata, dict) and metadata.get(request["key"]) == request["value"]:
            present += 1
        else:
            problems.append(f"acknowledged {rid} is not in {short(request['session'])}'s hash on the new primary")
        event = events_by_key.get((request["session"], session.get("version")))
        if event is None:
            problems.append(f"acknowledged {rid} (version {session.get('version')}) has no event in the stream")
        elif event.get("origin") != request["host"]:
            problems.append(f"{short(request['session'])} version {session.get('version')}: acknowledged to {rid} "
                            f"but the event names origin {event.get('origin')!r}")
        else:
            events += 1
    if not an.acked:
        problems.append("no update was acknowledged")
    return Verdict({"acknowledged": len(an.acked), "in_hashes": present, "with_event": events}, problems)


def check_versions(an):
    """Per session the stream holds versions 1..N once each, in stream order, N = the hash's
    version = 1 + acknowledged + those maybe committed that are there; definite failures changed nothing."""
    problems, details = list(an.feed_problems), {}
    order = collections.defaultdict(list)
    for label, stream_id, text in an.outcome.feed:
        try:
            event = json.loads(text)
            order[event["session_id"]].append((tuple(map(int, stream_id.split("-"))), event["version"]))
        except (TypeError, ValueError, KeyError):
            continue
    for sid in an.sessions:
        version = an.version(sid)
        if version is None:
            problems.append(f"{short(sid)}: no final version on the new primary")
            continue
        in_stream = [v for _, v in sorted(order.get(sid, []))]
        if in_stream != list(range(1, len(in_stream) + 1)) or (in_stream and in_stream[-1] != version):
            problems.append(f"{short(sid)}: stream versions are not 1..{version} in order: "
                            f"{in_stream[:5]}…{in_stream[-5:]} ({len(in_stream)} entries)")
        metadata = an.final[sid].get("metadata") if isinstance(an.final[sid].get("metadata"), dict) else {}
        mine = [rid for rid in an.requests if an.requests[rid]["session"] == sid]
        acked = [rid for rid in mine if rid in an.acked]
        maybe = [rid for rid in mine if maybe_committed(an, rid)]
        maybe_there = [rid for rid in maybe if an.requests[rid]["key"] in metadata]
        for rid in mine:
            if rid not in an.acked and rid not in maybe and an.requests[rid]["key"] in metadata:
                code = failure_code(an, rid) or f"{len(an.replies.get(rid) or [])} replies"
                problems.append(f"{short(sid)}: {rid} failed ({code}) but was applied anyway")
        reported = collections.Counter(an.single(rid)["session"].get("version") for rid in acked
                                       if isinstance(an.single(rid).get("session"), dict))
        clashes = sorted(v for v, n in reported.items() if v is not None and n > 1)
        if clashes:
            problems.append(f"{short(sid)}: several acknowledged updates got version(s) {clashes[:10]}")
        if version != 1 + len(acked) + len(maybe_there):
            problems.append(f"{short(sid)}: version {version} but 1 + {len(acked)} acknowledged + "
                            f"{len(maybe_there)} maybe-committed present = {1 + len(acked) + len(maybe_there)}")
        details[short(sid)] = {"version": version, "acked": len(acked), "maybe": len(maybe),
                               "maybe_present": len(maybe_there)}
    return Verdict({"sessions": len(an.sessions), "events": len(an.outcome.feed)}, problems, details)


def check_settled(an):
    """Every request sent SETTLED_AFTER s or more after the cut succeeded, on both workers."""
    out, problems = an.outcome, []
    cut = out.timeline.get("cut", 0) / 1000
    after = cut + out.settings.settled_after
    late = {tag: [rid for rid, at in run.sent.items() if at >= after] for tag, run in out.workers.items()}
    for tag, rids in late.items():
        if not rids:
            problems.append(f"{tag} was sent nothing {out.settings.settled_after:.0f} s after the cut")
        for rid in rids:
            if rid not in an.acked:
                reply = an.single(rid)
                what = an.error_of(reply) if reply else f"{len(an.replies.get(rid) or [])} replies"
                problems.append(f"{rid} sent {run_sent(out, rid) - cut:.1f} s after the cut: {str(what)[:160]}")
    failed_after_cut = sorted(at - cut for run in out.workers.values() for rid, at in run.sent.items()
                              if at >= cut and rid not in an.acked)
    ok_after_cut = {tag: min((at - cut for rid, at in run.sent.items() if at >= cut and rid in an.acked
                              and an.reply_times.get(rid, 0) >= cut), default=None)
                    for tag, run in out.workers.items()}
    figures = {"sent_settled": sum(map(len, late.values())),
               "ok_settled": sum(1 for rids in late.values() for rid in rids if rid in an.acked),
               "failed_after_cut": len(failed_after_cut)}
    if failed_after_cut:
        figures["last_failure_sent_after_cut_s"] = round(failed_after_cut[-1], 2)
    for tag, first in ok_after_cut.items():
        figures[f"{tag}_first_ok_sent_after_cut_s"] = None if first is None else round(first, 2)
    return Verdict(figures, problems[:40] + ([f"… {len(problems) - 40} more"] if len(problems) > 40 else []))


def run_sent(outcome, rid):
    """When request RID was written to its worker (seconds since start)."""
    for run in outcome.workers.values():
        if rid in run.sent:
            return run.sent[rid]
    return None


def check_old_primary(an):
    """n1, its link back, became a replica of the new primary within REJOIN_WITHIN s; while it still
    called itself primary nothing was written to it; at the end it holds exactly what it replicates."""
    out, problems = an.outcome, []
    new_ip = out.addresses.get(out.new_primary)
    restored = out.timeline.get("restored")
    rejoined = out.timeline.get("old_primary_replica")
    if rejoined is None:
        problems.append(f"n1 did not replicate from the new primary within {out.settings.rejoin_within:.0f} s "
                        "of its link coming back")
    role_now = out.old_primary_role
    if not (isinstance(role_now, list) and role_now[:2] == ["slave", new_ip] and role_now[3:4] == ["connected"]):
        problems.append(f"n1's ROLE at the end: {role_now} (expected a connected replica of {new_ip})")
    as_primary = [look for look in out.old_primary_looks if look.get("role") == "master"]
    newer = {(label, entry_id): text for look in as_primary for label, entry_id, text in look.get("newer", [])}
    problems += [f"n1, still primary, held stream entry {label} {entry_id} written after the cut: {str(text)[:120]}"
                 for (label, entry_id), text in list(newer.items())[:10]]
    changes = [look.get("changes") for look in as_primary if look.get("changes") is not None]
    if changes and max(changes) != min(changes):
        problems.append(f"n1, still primary after its link came back, took {max(changes) - min(changes)} changes")
    if not out.old_primary_in_sync:
        problems.append("n1's replication offset never caught up with the new primary's")
    if out.old_final != out.final:
        differ = sorted(sid for sid in set(out.final) | set(out.old_final)
                        if out.final.get(sid) != out.old_final.get(sid))
        problems.append(f"at the end n1's session hashes differ from the new primary's: {[short(s) for s in differ]}")
    if sorted(out.old_feed) != sorted(out.feed):
        problems.append(f"at the end n1's streams ({len(out.old_feed)} entries) differ from the new primary's "
                        f"({len(out.feed)})")
    figures = {"restored_ms": restored, "replica_after_restore_ms": None if rejoined is None or restored is None
               else rejoined - restored, "looks_as_primary": len(as_primary),
               "looks_unanswered": sum(1 for look in out.old_primary_looks if "error" in look),
               "newer_entries_as_primary": len(newer), "events_on_n1": len(out.old_feed)}
    return Verdict(figures, problems)


def check_lost_with_old_primary(an):
    """Updates that n1 committed but no replica had when it was cut off are gone; none of them was
    acknowledged, and each reply said its change may have been applied (unknown outcome or not_replicated)."""
    out, problems = an.outcome, []
    as_primary = [look for look in out.old_primary_looks if look.get("role") == "master"]
    if not as_primary:
        problems.append("n1 was never seen as a primary after its link came back: what it held is unknown")
    held = as_primary[0].get("hashes", {}) if as_primary else {}
    by_key = {request["key"]: rid for rid, request in an.requests.items()}
    lost, codes = [], collections.Counter()
    for sid, state in held.items():
        kept = (an.final.get(sid) or {}).get("metadata")
        kept = kept if isinstance(kept, dict) else {}
        for key in (state.get("metadata") or {}):
            if key in kept or key not in by_key:
                continue
            rid = by_key[key]
            lost.append(rid)
            reply = an.single(rid)
            codes["ok" if rid in an.acked else str(failure_code(an, rid))] += 1
            if rid in an.acked:
                problems.append(f"{rid} was acknowledged, committed on n1 and lost in the failover")
            elif not maybe_committed(an, rid):
                problems.append(f"{rid} committed on n1 (lost in the failover) but its reply did not say it may "
                                f"have been applied: {json.dumps(reply)[:200] if reply else 'no single reply'}")
    versions = {short(sid): (state.get("version"), (an.final.get(sid) or {}).get("version"))
                for sid, state in held.items()}
    figures = {"lost_with_n1": len(lost), **{f"lost_{code}": n for code, n in sorted(codes.items())}}
    details = {sid: {"version_on_n1": v[0], "final_version": v[1]} for sid, v in versions.items()}
    return Verdict(figures, problems, details)


def check_workers_exit(an):
    """Both workers exited 0 on their own once their input ended."""
    figures = {f"{tag}_exit_s": None if run.exit_after is None else round(run.exit_after, 1)
               for tag, run in an.outcome.workers.items()}
    figures.update({f"{tag}_status": run.exit_status for tag, run in an.outcome.workers.items()})
    return Verdict(figures, list(an.outcome.hung))
