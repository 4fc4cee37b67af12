#!/usr/bin/env python3
"""Reliability checks for OpsCore, driven by scripts/reliability-test.sh.

Usage: reliability_check.py --bin OPSCORE --run-dir DIR [CHECK ...]

Checks (default: all, in this order):

  durability       kill -9 Redis (AOF, appendfsync always) under a worker's update
                   stream, restart it; acked updates survive, versions are gap-free,
                   unknown outcomes are accounted for
  restart          clean (SIGTERM) and hard (SIGKILL) Redis restarts under a worker
                   and a watcher: no silence, redis_unavailable during the outage,
                   recovery < 5 s, both report the outage on stderr
  stall            SIGSTOP Redis: the CLI exits 69 "timed out", a worker request
                   gets redis_timeout; after SIGCONT both work again
  least_privilege  the documented ACL user runs the whole CLI surface; a user
                   without +hset gets 77 (NOPERM) and nothing is written; a wrong
                   password gets 77 and is never printed (also at --log-level trace)
  hostile_input    odd agent/workflow ids round-trip exactly, keys stay inside the
                   namespace; control characters and bad metadata are refused (64)
  soak             SOAK_REQUESTS (default 200000) updates through one worker;
                   RSS growth after warm-up <= 20 MiB; throughput reported

Prints one `PASS name: detail` / `FAIL name: detail` line per check on stdout
(and appends it to RUN_DIR/results.txt). Every redis-server is started here on
127.0.0.1 with a random free port and a directory under RUN_DIR. Every process
started is recorded as "pid starttime" in RUN_DIR/pids so the shell wrapper can
kill exactly those if this script dies; this script also kills them itself at
the end of each check. Only the Python standard library is used.
"""

import argparse
import collections
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

UUID_RE = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SESSION_FIELDS = {b"session_id", b"agent_id", b"workflow_id", b"status", b"start_time",
                  b"last_updated_time", b"metadata", b"version"}
UNKNOWN_OUTCOME = re.compile(r"may or may not", re.I)
# The ACL line the README documents (PASS replaced by the password).
ACL_COMMANDS = ["ping", "time", "select", "watch", "unwatch", "multi", "exec", "discard",
                "hgetall", "hget", "hset", "del", "exists", "sismember", "sadd", "srem",
                "smembers", "zadd", "zrem", "zrevrange", "zrangebyscore", "publish", "subscribe"]

BIN = ""
RUN_DIR = ""
PIDFILE = ""
RESULTS = ""
_children = []          # every Popen started by the current check
_children_lock = threading.Lock()


def log(message):
    """Diagnostics for people, on stderr (the PASS/FAIL lines go to stdout)."""
    sys.stderr.write(f"  [{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# ------------------------------------------------------------------ processes

def _starttime(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return "0"


def spawn(args, **kwargs):
    """Popen that records the child so that it is always killed afterwards."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen(args, **kwargs)
    with open(PIDFILE, "a") as handle:
        handle.write(f"{proc.pid} {_starttime(proc.pid)}\n")
    with _children_lock:
        _children.append(proc)
    return proc


def kill_children():
    with _children_lock:
        procs = list(_children)
        _children.clear()
    for proc in procs:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGCONT)   # a stopped redis-server too
                proc.kill()
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            if proc.stdin:
                proc.stdin.close()
        except (OSError, ValueError):
            pass


class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    @property
    def text(self):
        return self.out.decode("utf-8", "replace")

    @property
    def error_text(self):
        return self.err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def json_lines(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def brief(self):
        return f"rc={self.rc} {self.error_text.strip()[:200]!r}"


def run(argv, timeout=15, env=None):
    start = time.monotonic()
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        rc = None
    return Result(rc, out, err, time.monotonic() - start)


def opscore(url, *args, namespace="opscore", timeout=15, log_level=None):
    argv = [BIN, "--redis-url", url, "--namespace", namespace, "--format", "json"]
    if log_level:
        argv += ["--log-level", log_level]
    return run(argv + list(args), timeout=timeout)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------- mini RESP

class RespError(Exception):
    pass


class Resp:
    """A tiny blocking RESP2 client, enough for admin commands and SCAN."""

    def __init__(self, port, user=None, password=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        if password is not None:
            self.cmd("AUTH", *([user] if user else []), password)

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            if isinstance(arg, str):
                arg = arg.encode()
            elif isinstance(arg, int):
                arg = str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(parts))

    def read(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, body = line[:1], line[1:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            return RespError(body.decode("utf-8", "replace"))
        if kind == b":":
            return int(body)
        if kind == b"$":
            length = int(body)
            return None if length < 0 else self.file.read(length + 2)[:-2]
        if kind == b"*":
            length = int(body)
            return None if length < 0 else [self.read() for _ in range(length)]
        raise ConnectionError(f"bad RESP line {line!r}")

    def cmd(self, *args):
        self.send(*args)
        reply = self.read()
        if isinstance(reply, RespError):
            raise reply
        return reply

    def scan_all(self):
        keys, cursor = [], b"0"
        while True:
            cursor, batch = self.cmd("SCAN", cursor, "COUNT", 1000)
            keys.extend(batch)
            if cursor == b"0":
                return sorted(set(keys))

    def snapshot(self):
        """Every key with its type and contents, for 'nothing changed' checks."""
        state = {}
        for key in self.scan_all():
            kind = self.cmd("TYPE", key)
            if kind == "hash":
                flat = self.cmd("HGETALL", key)
                value = dict(zip(flat[::2], flat[1::2]))
            elif kind == "set":
                value = sorted(self.cmd("SMEMBERS", key))
            elif kind == "zset":
                value = self.cmd("ZRANGE", key, 0, -1, "WITHSCORES")
            elif kind == "string":
                value = self.cmd("GET", key)
            else:
                value = kind
            state[key] = (kind, value)
        return state

    def hgetall(self, key):
        flat = self.cmd("HGETALL", key)
        return dict(zip(flat[::2], flat[1::2]))


class Subscription:
    """A raw SUBSCRIBE connection collecting messages on a thread."""

    def __init__(self, port, channel):
        self.conn = Resp(port, timeout=None)
        self.conn.send("SUBSCRIBE", channel)
        self.conn.read()
        self.messages = []
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        try:
            while True:
                reply = self.conn.read()
                if isinstance(reply, list) and reply and reply[0] == b"message":
                    self.messages.append(reply[2])
        except (OSError, ValueError, ConnectionError):
            pass

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


# --------------------------------------------------------------- redis-server

class RedisServer:
    def __init__(self, name, extra=()):
        self.dir = os.path.join(RUN_DIR, name)
        os.makedirs(self.dir, exist_ok=True)
        self.extra = list(extra)
        self.port = None
        self.proc = None

    def argv(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--daemonize", "no", "--logfile", os.path.join(self.dir, "redis.log"),
                "--save", "", "--appendonly", "no", "--protected-mode", "yes"] + self.extra

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout=10.0):
        """Starts on a new random port (first start) or the same port (restart)."""
        first = self.port is None
        for _ in range(5 if first else 1):
            if first:
                self.port = free_port()
            self.proc = spawn(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self.ping():
                    return time.monotonic()
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        raise RuntimeError(f"redis-server did not start on port {self.port} (see {self.dir}/redis.log)")

    def ping(self):
        try:
            with Resp(self.port, timeout=0.5) as conn:
                return conn.cmd("PING") == "PONG"
        except (OSError, RespError, ConnectionError):
            return False

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig and waits until the process is gone; returns the time it was gone."""
        self.send_signal(sig)
        self.proc.wait(timeout=timeout)
        return time.monotonic()

    def admin(self, timeout=5.0):
        return Resp(self.port, timeout=timeout)


# --------------------------------------------------------------------- worker

class Worker:
    """An `opscore worker` with a reader thread collecting reply lines by id."""

    def __init__(self, url, name, concurrency=4, namespace="opscore", extra=()):
        self.err_path = os.path.join(RUN_DIR, f"{name}.worker.err")
        self.err_file = open(self.err_path, "wb")
        argv = [BIN, "--redis-url", url, "--namespace", namespace, "worker", "--concurrency", str(concurrency)]
        self.proc = spawn(argv + list(extra), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err_file)
        self.cond = threading.Condition()
        self.replies = collections.defaultdict(list)   # id -> [(time, obj)]
        self.bad_lines = []
        self.reply_count = 0
        self.sent = {}                                   # id -> time
        self.write_lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            try:
                obj = json.loads(line)
                key = obj.get("id")
            except (ValueError, AttributeError):
                obj, key = None, None
            with self.cond:
                self.reply_count += 1
                if obj is None:
                    self.bad_lines.append(line)
                else:
                    self.replies[key].append((now, obj))
                self.cond.notify_all()

    def send(self, request, ensure_ascii=False):
        data = (json.dumps(request, ensure_ascii=ensure_ascii) + "\n").encode()
        with self.write_lock:
            self.sent[request.get("id")] = time.monotonic()
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def wait_reply(self, key, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.replies.get(key):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)
            return self.replies[key][0][1]

    def call(self, request, timeout=10.0, ensure_ascii=False):
        self.send(request, ensure_ascii=ensure_ascii)
        return self.wait_reply(request["id"], timeout)

    def wait_count(self, count, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.reply_count < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cond.wait(remaining)
            return True

    def finish(self, timeout=20.0):
        """Closes stdin (EOF) and waits for the worker to exit; returns its exit code or None."""
        try:
            with self.write_lock:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=5)
        return rc

    def stderr_text(self):
        self.err_file.flush()
        with open(self.err_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1


class Watcher:
    """An `opscore --format json watch` collecting event lines."""

    def __init__(self, url, name, namespace="opscore"):
        self.err_path = os.path.join(RUN_DIR, f"{name}.watch.err")
        self.err_file = open(self.err_path, "wb")
        argv = [BIN, "--redis-url", url, "--namespace", namespace, "--format", "json", "watch"]
        self.proc = spawn(argv, stdout=subprocess.PIPE, stderr=self.err_file)
        self.events = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"unparsable": line.decode("utf-8", "replace")}
            with self.cond:
                self.events.append(event)
                self.cond.notify_all()

    def stderr_text(self):
        self.err_file.flush()
        with open(self.err_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def wait_stderr(self, pattern, count=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.stderr_text())) >= count:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def wait_event(self, predicate, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


def session_get(url, session_id, namespace="opscore"):
    result = opscore(url, "session", "get", session_id, namespace=namespace)
    if result.rc != 0:
        raise RuntimeError(f"session get {session_id}: {result.brief()}")
    return result.json()


def start_sessions(url, agent, count, workflow="wf", namespace="opscore"):
    result = opscore(url, "agent", "register", agent, namespace=namespace)
    if result.rc != 0:
        raise RuntimeError(f"agent register: {result.brief()}")
    ids = []
    for _ in range(count):
        result = opscore(url, "session", "start", "--agent", agent, "--workflow", workflow, namespace=namespace)
        if result.rc != 0:
            raise RuntimeError(f"session start: {result.brief()}")
        ids.append(result.json()["session_id"])
    return ids


# ===================================================================== checks

def check_durability():
    problems = []
    server = RedisServer("durability", ["--appendonly", "yes", "--appendfsync", "always"])
    server.start()
    sessions = start_sessions(server.url, "dur-agent", 5)
    worker = Worker(server.url, "durability", concurrency=4)
    total, duration, kill_at, down_for = 2000, 4.0, 1.5, 1.0

    def generate():
        start = time.monotonic()
        try:
            for n in range(total):
                delay = start + n * duration / total - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                worker.send({"id": str(n), "op": "update", "session_id": sessions[n % 5], "metadata": {f"u{n}": n}})
        except (OSError, ValueError) as error:
            log(f"durability generator stopped: {error}")

    generator = threading.Thread(target=generate, daemon=True)
    t0 = time.monotonic()
    generator.start()
    time.sleep(max(0.0, t0 + kill_at - time.monotonic()))
    t_kill = time.monotonic()
    server.stop(signal.SIGKILL)
    time.sleep(down_for)
    t_up = server.start()
    generator.join(timeout=30)
    if generator.is_alive():
        problems.append("generator did not finish within 30 s (worker not reading?)")
    rc = worker.finish(timeout=30)
    if rc != 0:
        problems.append(f"worker exit status {rc} after EOF (expected 0)")

    # Every request got exactly one reply.
    ids = {str(n) for n in range(total)}
    missing = sorted(ids - set(worker.replies), key=int)
    doubled = sorted(k for k, v in worker.replies.items() if len(v) > 1)
    stray = sorted(str(k) for k in set(worker.replies) - ids)
    if missing:
        problems.append(f"{len(missing)} requests got no reply (first {missing[:5]})")
    if doubled:
        problems.append(f"{len(doubled)} requests got more than one reply ({doubled[:5]})")
    if stray or worker.bad_lines:
        problems.append(f"unexpected reply lines: ids {stray[:5]}, unparsable {worker.bad_lines[:2]}")

    acked = collections.defaultdict(set)      # session -> keys acked
    unknown = collections.defaultdict(set)    # session -> keys with unknown outcome
    failed = collections.defaultdict(set)     # session -> keys that definitely failed
    ack_versions = collections.defaultdict(list)
    codes = collections.Counter()
    bad_codes = []
    failed_times = []
    for n in range(total):
        entries = worker.replies.get(str(n))
        if not entries:
            continue
        when, reply = entries[0]
        sid, key = sessions[n % 5], f"u{n}"
        if reply.get("ok") is True:
            acked[sid].add(key)
            ack_versions[sid].append(reply["session"]["version"])
            continue
        error = reply.get("error") or {}
        code, message = error.get("code"), error.get("message", "")
        codes[code] += 1
        failed_times.append(worker.sent.get(str(n), when) - t0)
        if code not in ("redis_unavailable", "redis_timeout"):
            bad_codes.append(f"{n}:{code}:{message[:80]}")
        if code in ("redis_unavailable", "redis_timeout") and UNKNOWN_OUTCOME.search(message):
            unknown[sid].add(key)
        else:
            failed[sid].add(key)
    if bad_codes:
        problems.append(f"unexpected error codes: {bad_codes[:5]}")
    n_acked = sum(len(v) for v in acked.values())
    n_unknown = sum(len(v) for v in unknown.values())
    n_failed = sum(len(v) for v in failed.values())
    if n_failed + n_unknown == 0:
        problems.append("no request failed: the outage was not observed")

    # Final state.
    unknown_committed = 0
    per_session = []
    with server.admin() as admin:
        for sid in sessions:
            session = session_get(server.url, sid)
            version = session["version"]
            keys = {k for k in session["metadata"] if re.fullmatch(r"u\d+", k)}
            fields = set(admin.hgetall(f"opscore:session:{sid}"))
            if fields != SESSION_FIELDS:
                problems.append(f"{sid[:8]}: hash fields {sorted(f.decode() for f in fields)}")
            lost = acked[sid] - keys
            if lost:
                problems.append(f"{sid[:8]}: {len(lost)} acked updates lost ({sorted(lost)[:5]})")
            phantom = keys - acked[sid] - unknown[sid]
            if phantom:
                phantom_failed = phantom & failed[sid]
                problems.append(f"{sid[:8]}: {len(phantom)} updates present that were not acked or unknown "
                                f"({len(phantom_failed)} reported as failed: {sorted(phantom)[:5]})")
            committed_unknown = len(unknown[sid] & keys)
            unknown_committed += committed_unknown
            if version - 1 != len(keys):
                problems.append(f"{sid[:8]}: version {version} but {len(keys)} committed updates (gap or double apply)")
            expected = 1 + len(acked[sid]) + committed_unknown
            if version != expected:
                problems.append(f"{sid[:8]}: version {version} != 1 + {len(acked[sid])} acked + "
                                f"{committed_unknown} unknown-committed")
            if not (1 + len(acked[sid]) <= version <= 1 + len(acked[sid]) + len(unknown[sid])):
                problems.append(f"{sid[:8]}: version {version} outside 1+acked..1+acked+unknown")
            dup = [v for v, c in collections.Counter(ack_versions[sid]).items() if c > 1]
            if dup:
                problems.append(f"{sid[:8]}: two acks report the same version {dup[:3]}")
            per_session.append(f"v{version}")
    window = f"{min(failed_times):.2f}-{max(failed_times):.2f}s" if failed_times else "-"
    detail = (f"{total} updates, kill -9 at {t_kill - t0:.2f}s, back at {t_up - t0:.2f}s; "
              f"{n_acked} acked, {n_failed + n_unknown} failed during outage ({window}; "
              f"codes {dict(codes)}), {n_unknown} unknown-outcome ({unknown_committed} of them committed); "
              f"final versions {' '.join(per_session)}")
    if not problems:
        detail += ("; one reply each, every acked update present, no failed update present, "
                   "version = 1 + acked + unknown-committed, gap-free, all 8 fields")
    return problems, detail


def check_restart():
    problems = []
    server = RedisServer("restart", ["--appendonly", "yes", "--appendfsync", "always"])
    server.start()
    (sid,) = start_sessions(server.url, "rs-agent", 1)
    watcher = Watcher(server.url, "restart")
    if not watcher.wait_stderr(r"watching", timeout=10):
        problems.append(f"watcher did not start: {watcher.stderr_text()[-300:]!r}")
    result = opscore(server.url, "session", "update", sid, "--metadata", '{"phase":0}')
    if result.rc != 0 or not watcher.wait_event(lambda e: e.get("version") == 2, timeout=5):
        problems.append(f"watcher saw no event before the restarts ({result.brief()})")
    worker = Worker(server.url, "restart", concurrency=4)
    stop_pinging = threading.Event()
    gets = []

    def pinger():
        n = 0
        while not stop_pinging.is_set():
            key = f"g{n}"
            gets.append(key)
            worker.send({"id": key, "op": "get", "session_id": sid})
            n += 1
            stop_pinging.wait(0.2)

    thread = threading.Thread(target=pinger, daemon=True)
    thread.start()
    time.sleep(1.0)
    phases = []
    version = 2
    for number, (label, sig) in enumerate((("clean", signal.SIGTERM), ("kill", signal.SIGKILL)), start=1):
        t_signal = time.monotonic()
        t_down = server.stop(sig)
        time.sleep(1.0)
        t_launch = time.monotonic()
        t_up = server.start()
        first_ok = None
        deadline = t_up + 8
        while first_ok is None and time.monotonic() < deadline:
            with worker.cond:
                for key, entries in list(worker.replies.items()):
                    sent = worker.sent.get(key, 0)
                    when, reply = entries[0]
                    if str(key).startswith("g") and sent >= t_up and reply.get("ok"):
                        first_ok = when if first_ok is None else min(first_ok, when)
            time.sleep(0.05)
        recovery = None if first_ok is None else first_ok - t_up
        if recovery is None or recovery >= 5:
            problems.append(f"{label}: no successful get within {'8' if recovery is None else f'{recovery:.2f}'} s after restart")
        # The watcher reconnects (backoff <= 2 s) and receives events again.
        reconnected = watcher.wait_stderr(r"reconnected to Redis", count=number, timeout=8)
        version += 1
        result = opscore(server.url, "session", "update", sid, "--metadata", json.dumps({"phase": number}))
        got = watcher.wait_event(lambda e, v=version: e.get("session_id") == sid and e.get("version") == v, timeout=5)
        if not reconnected or result.rc != 0 or not got:
            problems.append(f"{label}: watcher reconnected={reconnected}, update {result.brief()}, "
                            f"event v{version} received={bool(got)}")
        phases.append((label, t_signal, t_down, t_launch, t_up, recovery))
        time.sleep(0.5)
    stop_pinging.set()
    thread.join(timeout=5)
    worker.wait_count(len(gets), timeout=10)
    rc = worker.finish(timeout=15)
    if rc != 0:
        problems.append(f"worker exit status {rc} after EOF")
    watch_rc = watcher.stop()
    if watch_rc != 0:
        problems.append(f"watcher exit status {watch_rc} after SIGTERM")

    silent = [k for k in gets if not worker.replies.get(k)]
    if silent:
        problems.append(f"{len(silent)} gets got no reply ({silent[:5]})")
    latencies = [worker.replies[k][0][0] - worker.sent[k] for k in gets if worker.replies.get(k)]
    codes = collections.Counter()
    for key in gets:
        if not worker.replies.get(key):
            continue
        reply = worker.replies[key][0][1]
        if not reply.get("ok"):
            codes[reply["error"]["code"]] += 1
    if set(codes) - {"redis_unavailable"}:
        problems.append(f"error codes other than redis_unavailable: {dict(codes)}")
    outage_stats = []
    for label, t_signal, t_down, t_launch, t_up, recovery in phases:
        during = [k for k in gets if t_down <= worker.sent[k] < t_launch]
        wrong = [k for k in during if not worker.replies.get(k) or worker.replies[k][0][1].get("ok")
                 or worker.replies[k][0][1]["error"]["code"] != "redis_unavailable"]
        if not during:
            problems.append(f"{label}: no get was sent during the outage")
        if wrong:
            problems.append(f"{label}: {len(wrong)} of {len(during)} gets during the outage did not get redis_unavailable")
        rec = "none" if recovery is None else f"{recovery:.2f}s"
        outage_stats.append(f"{label}: {len(during) - len(wrong)}/{len(during)} gets during outage got redis_unavailable, "
                            f"first success {rec} after Redis was up ({(t_up - t_launch):.2f}s to start)")
    worker_err, watch_err = worker.stderr_text(), watcher.stderr_text()
    if "unavailable" not in worker_err:
        problems.append(f"worker stderr does not mention 'unavailable': {worker_err[-300:]!r}")
    if "may have been missed" not in watch_err:
        problems.append(f"watcher stderr does not mention 'may have been missed': {watch_err[-300:]!r}")
    detail = (f"{len(gets)} gets, {len(gets) - len(silent)} answered (max latency {max(latencies or [0]):.2f}s), "
              f"codes {dict(codes)}; "
              + "; ".join(outage_stats)
              + f"; worker stderr 'unavailable' x{worker_err.count('unavailable')}"
              + f", 'reachable again' x{worker_err.count('reachable again')}"
              + f"; watcher 'may have been missed' x{watch_err.count('may have been missed')}")
    if not problems:
        detail += "; watcher received events after both restarts"
    return problems, detail


def check_stall():
    problems = []
    server = RedisServer("stall")
    server.start()
    (sid,) = start_sessions(server.url, "st-agent", 1)
    stall_url = f"redis://127.0.0.1:{server.port}/0?timeout=1&connect_timeout=1"
    worker = Worker(stall_url, "stall", concurrency=2)
    warm = worker.call({"id": "warm", "op": "get", "session_id": sid})
    if not (warm and warm.get("ok")):
        problems.append(f"worker get before the stall failed: {warm}")
    before = session_get(server.url, sid)["version"]
    server.send_signal(signal.SIGSTOP)
    try:
        cli = opscore(stall_url, "session", "get", sid, timeout=10)
        if cli.rc != 69 or cli.elapsed > 3.0 or not cli.error_text.startswith("error:") \
                or "timed out" not in cli.error_text:
            problems.append(f"CLI during stall: {cli.brief()} after {cli.elapsed:.2f}s (want 69, 'timed out', <= 3 s)")
        t_send = time.monotonic()
        worker.send({"id": "stall-get", "op": "get", "session_id": sid})
        worker.send({"id": "stall-update", "op": "update", "session_id": sid, "metadata": {"stalled": 1}})
        stall_get = worker.wait_reply("stall-get", timeout=8)
        get_latency = time.monotonic() - t_send if stall_get else None
        stall_update = worker.wait_reply("stall-update", timeout=8)
        latencies = {k: v[0][0] - worker.sent[k] for k, v in worker.replies.items() if k in ("stall-get", "stall-update")}
    finally:
        server.send_signal(signal.SIGCONT)
    for name, reply in (("get", stall_get), ("update", stall_update)):
        code = (reply or {}).get("error", {}).get("code")
        latency = latencies.get(f"stall-{name}")
        if code != "redis_timeout":
            problems.append(f"worker {name} during stall: {reply} (want redis_timeout)")
        elif latency is None or latency > 1.5:
            problems.append(f"worker {name} during stall took {latency:.2f}s to report redis_timeout "
                            f"(command timeout 1 s, want <= 1.5 s)")
    time.sleep(0.1)
    after_cli = opscore(stall_url, "session", "get", sid, timeout=10)
    if after_cli.rc != 0:
        problems.append(f"CLI after SIGCONT: {after_cli.brief()}")
    t_after = time.monotonic()
    after = worker.call({"id": "after", "op": "get", "session_id": sid}, timeout=8)
    after_latency = time.monotonic() - t_after
    if not (after and after.get("ok")):
        problems.append(f"worker get after SIGCONT: {after}")
    after_update = worker.call({"id": "after-update", "op": "update", "session_id": sid, "metadata": {"after": 1}}, timeout=8)
    if not (after_update and after_update.get("ok")):
        problems.append(f"worker update after SIGCONT: {after_update}")
    rc = worker.finish()
    if rc != 0:
        problems.append(f"worker exit status {rc}")
    final = session_get(server.url, sid)
    if "stalled" in final["metadata"] or final["version"] != before + 1:
        problems.append(f"update that timed out before MULTI was applied: version {before} -> {final['version']}, "
                        f"metadata {final['metadata']}")
    detail = (f"CLI get exit {cli.rc} after {cli.elapsed:.2f}s ({cli.error_text.strip()[:70]!r}); "
              f"worker get -> {(stall_get or {}).get('error', {}).get('code')} after "
              f"{latencies.get('stall-get', float('nan')):.2f}s, update -> "
              f"{(stall_update or {}).get('error', {}).get('code')} after {latencies.get('stall-update', float('nan')):.2f}s "
              f"({'not applied' if final['version'] == before + 1 else 'APPLIED'}); after SIGCONT CLI exit {after_cli.rc} in {after_cli.elapsed:.2f}s, "
              f"worker get ok in {after_latency:.2f}s")
    return problems, detail


def acl_line(user, password, commands):
    return ["ACL", "SETUSER", user, "reset", "on", f">{password}", "~opscore:*", "resetchannels",
            "&opscore:*", "-@all"] + [f"+{c}" for c in commands]


def nopermission_names(text):
    """Command names in 'NOPERM … run the 'x' command' messages."""
    return set(re.findall(r"run the '([^']+)' command", text)) | set(re.findall(r"NOPERM[^\n]*?'([^']+)'", text))


def check_least_privilege():
    problems = []
    steps = []
    server = RedisServer("acl")
    server.start()
    password = "pw-" + secrets.token_hex(12)
    # RELIABILITY_ACL_DROP=cmd,cmd leaves commands out (to see this check catch a missing one).
    dropped = {c for c in os.environ.get("RELIABILITY_ACL_DROP", "").split(",") if c}
    commands = [c for c in ACL_COMMANDS if c not in dropped]
    log("ACL line: " + " ".join(acl_line("opscore", "PASS", commands)))
    with server.admin() as admin:
        admin.cmd(*acl_line("opscore", password, commands))
        admin.cmd("ACL", "LOG", "RESET")
    url = f"redis://opscore:{password}@127.0.0.1:{server.port}/0"

    def step(name, result, want=0):
        steps.append(name)
        if result.rc != want:
            denied = nopermission_names(result.error_text)
            hint = f" (missing from ACL: {', '.join(sorted(denied))})" if denied else ""
            problems.append(f"{name}: {result.brief()}{hint}")
            return False
        return True

    watcher = Watcher(url, "acl")
    if not watcher.wait_stderr(r"watching", timeout=10):
        problems.append(f"watch as the ACL user did not subscribe: {watcher.stderr_text()[-300:]!r}")
    step("agent register", opscore(url, "agent", "register", "lp-a", "lp-b"))
    listed = opscore(url, "agent", "list")
    if step("agent list", listed) and {"lp-a", "lp-b"} - {o.get("agent_id") for o in listed.json_lines()}:
        problems.append(f"agent list: {listed.text!r}")
    step("agent remove", opscore(url, "agent", "remove", "lp-b"))
    started = opscore(url, "session", "start", "--agent", "lp-a", "--workflow", "w", "--metadata", '{"a":1}')
    sid = started.json()["session_id"] if step("session start", started) else None
    if sid:
        step("session get", opscore(url, "session", "get", sid))
        step("session update", opscore(url, "session", "update", sid, "--status", "paused", "--metadata", '{"b":2}'))
        listed = opscore(url, "session", "list", "--agent", "lp-a")
        if step("session list", listed) and sid not in {o.get("session_id") for o in listed.json_lines()}:
            problems.append("session list did not show the session")
        step("session end", opscore(url, "session", "end", sid, "--status", "failed"))
        # Refused changes end their transaction with UNWATCH (a silent best-effort call:
        # only the ACL LOG below would show it denied).
        step("session end (already ended, refused)", opscore(url, "session", "end", sid), want=1)
        step("session delete", opscore(url, "session", "delete", sid))
        step("session update (deleted, refused)", opscore(url, "session", "update", sid, "--status", "paused"), want=1)
    # A non-zero database (SELECT at connect).
    db_url = f"redis://opscore:{password}@127.0.0.1:{server.port}/1"
    step("agent list on db 1", opscore(db_url, "agent", "list"))
    # The worker with the idle sweep on (ZRANGEBYSCORE + TIME every 0.1 s).
    worker = Worker(url, "acl", concurrency=2, extra=["--expire-after", "3600", "--sweep-interval", "0.1"])
    replies = [worker.call({"id": "r", "op": "register_agent", "agent_id": "lp-w"})]
    replies.append(worker.call({"id": "s", "op": "start", "agent_id": "lp-w", "workflow_id": "w", "metadata": {"x": 1}}))
    wsid = (replies[-1] or {}).get("session", {}).get("session_id")
    if wsid:
        replies.append(worker.call({"id": "u", "op": "update", "session_id": wsid, "metadata": {"y": 2}}))
        replies.append(worker.call({"id": "g", "op": "get", "session_id": wsid}))
        replies.append(worker.call({"id": "e", "op": "end", "session_id": wsid}))
        replies.append(worker.call({"id": "d", "op": "delete", "session_id": wsid}))
    steps.append("worker register_agent/start/update/get/end/delete")
    for reply in replies:
        if not (reply and reply.get("ok")):
            message = json.dumps(reply)
            denied = nopermission_names(message)
            hint = f" (missing from ACL: {', '.join(sorted(denied))})" if denied else ""
            problems.append(f"worker: {message[:200]}{hint}")
    time.sleep(0.3)     # let the sweeper run a few times
    if worker.finish() != 0:
        problems.append("worker did not exit 0")
    if "idle sweep failed" in worker.stderr_text():
        problems.append(f"worker idle sweep failed: {worker.stderr_text()[-200:]!r}")
    event = watcher.wait_event(lambda e: e.get("session_id") == wsid and e.get("type") == "session.deleted", timeout=5)
    steps.append("watch")
    if not event:
        problems.append(f"watch as the ACL user received {len(watcher.events)} events, not the worker's session.deleted")
    n_events = len(watcher.events)
    watcher.stop()
    with server.admin() as admin:
        acl_log = admin.cmd("ACL", "LOG")
    acl_denials = len(acl_log or [])
    if acl_log:
        entries = []
        for entry in acl_log:
            fields = dict(zip(entry[::2], entry[1::2]))
            entries.append(f"{fields.get(b'reason', b'?').decode()}:{fields.get(b'object', b'?').decode()}")
        problems.append(f"ACL LOG has denials (missing from the ACL line): {sorted(set(entries))}")

    # A user without +hset: session start is refused with 77, nothing written, nothing published.
    denied_password = "pw-" + secrets.token_hex(12)
    with server.admin() as admin:
        admin.cmd(*acl_line("opscore-nohset", denied_password, [c for c in commands if c != "hset"]))
        admin.cmd("SADD", "opscore:agents", "lp-denied")
        before = admin.snapshot()
    subscription = Subscription(server.port, "opscore:events")
    denied_url = f"redis://opscore-nohset:{denied_password}@127.0.0.1:{server.port}/0"
    refused = opscore(denied_url, "session", "start", "--agent", "lp-denied", "--workflow", "w")
    time.sleep(0.3)
    subscription.close()
    with server.admin() as admin:
        after = admin.snapshot()
    if refused.rc != 77 or not refused.error_text.startswith("error:") or "NOPERM" not in refused.error_text \
            or "hset" not in refused.error_text.lower():
        problems.append(f"start without +hset: {refused.brief()} (want 77 naming NOPERM and hset)")
    if before != after:
        changed = sorted(set(before) ^ set(after) | {k for k in before if k in after and before[k] != after[k]})
        problems.append(f"start without +hset changed keys: {changed[:5]}")
    if subscription.messages:
        problems.append(f"start without +hset published {len(subscription.messages)} events")

    # A wrong password: 77, and the password is never printed, not even at trace level.
    wrong = "wrong-" + secrets.token_hex(10)
    bad_url = f"redis://opscore:{wrong}@127.0.0.1:{server.port}/0"
    leaks = []
    outcomes = []
    for label, result in (
            ("agent list", opscore(bad_url, "agent", "list")),
            ("session get (trace)", opscore(bad_url, "session", "get", "00000000-0000-4000-8000-000000000000", log_level="trace")),
            ("session start (trace)", opscore(bad_url, "session", "start", "--agent", "lp-a", "--workflow", "w", log_level="trace")),
            ("watch (trace)", opscore(bad_url, "watch", log_level="trace", timeout=10))):
        outcomes.append(f"{label} {result.rc}")
        if result.rc != 77:
            problems.append(f"wrong password, {label}: {result.brief()} (want 77)")
        for stream in (result.out, result.err):
            if wrong.encode() in stream:
                leaks.append(label)
    bad_worker = Worker(bad_url, "acl-wrongpw", concurrency=1, extra=[])
    bad_reply = bad_worker.call({"id": "x", "op": "get", "session_id": "00000000-0000-4000-8000-000000000000"})
    bad_worker.finish()
    with open(os.path.join(RUN_DIR, "acl-wrongpw.worker.err"), "rb") as handle:
        worker_err = handle.read()
    if (bad_reply or {}).get("error", {}).get("code") != "redis_denied":
        problems.append(f"worker with wrong password: {bad_reply} (want redis_denied)")
    if wrong in json.dumps(bad_reply) or wrong.encode() in worker_err:
        leaks.append("worker")
    # The right password at trace level is not logged either.
    traced = opscore(url, "agent", "list", log_level="trace")
    if password.encode() in traced.err or password.encode() in traced.out:
        leaks.append("agent list with the right password (trace)")
    if leaks:
        problems.append(f"password printed by: {leaks}")
    detail = (f"ACL user ran {len(steps)} steps ({', '.join(steps)}), watcher got {n_events} events, "
              f"ACL LOG {'empty' if not acl_denials else f'{acl_denials} denials'}; without +hset: exit {refused.rc} {refused.error_text.strip()[:90]!r}, "
              f"{'no' if before == after else 'SOME'} key changed, {len(subscription.messages)} events; "
              f"wrong password: {', '.join(outcomes)}, worker "
              f"{(bad_reply or {}).get('error', {}).get('code')}, password printed by {leaks or 'nothing'}")
    return problems, detail


HOSTILE_IDS = [
    "agent with spaces", "star*", "*", "{braces}", "{}", "colon:agent:x", ":", "x:sessions",
    'quote"s\'', "back\\slash", "opscore:agents", "opscore:session:00000000-0000-4000-8000-000000000000",
    "opscore:*", "über", "日本", "🚀 emoji 👩‍💻", "?[ab]", "%s %n", "a" * 256,
]
CONTROL_IDS = ["a\r\nb", "tab\there", "nul\u0000x", "del\u007f", "nel\u0085x", "line\nfeed"]


def check_hostile_input():
    problems = []
    server = RedisServer("hostile")
    server.start()
    url = server.url
    worker = Worker(url, "hostile", concurrency=2)
    expected_keys = {b"opscore:agents", b"opscore:sessions:by_update"}
    sessions = {}      # session id -> (agent, workflow, metadata)
    metadata = {"k\r\n": "v\u0000\u2028", "日本": "🚀", "nested": {"a": [1, 2.5, None, True, "x"]}, "*": {}}
    for index, ident in enumerate(HOSTILE_IDS):
        workflow = HOSTILE_IDS[(index + 3) % len(HOSTILE_IDS)]
        reply = worker.call({"id": f"r{index}", "op": "register_agent", "agent_id": ident}, ensure_ascii=index % 2 == 0)
        if not (reply and reply.get("ok")):
            problems.append(f"register {ident!r}: {reply}")
            continue
        reply = worker.call({"id": f"s{index}", "op": "start", "agent_id": ident, "workflow_id": workflow,
                             "metadata": metadata}, ensure_ascii=index % 2 == 1)
        session = (reply or {}).get("session")
        if not session or session.get("agent_id") != ident or session.get("workflow_id") != workflow \
                or session.get("metadata") != metadata:
            problems.append(f"worker start {ident!r}: {reply}")
            continue
        sessions[session["session_id"]] = (ident, workflow, metadata)
        expected_keys.add(f"opscore:agent:{ident}:sessions".encode())
        # The CLI too: arguments passed verbatim (no shell).
        if not ident.startswith("-"):
            cli = opscore(url, "session", "start", "--agent", ident, "--workflow", workflow)
            if cli.rc != 0 or cli.json().get("agent_id") != ident or cli.json().get("workflow_id") != workflow:
                problems.append(f"CLI start {ident!r}: {cli.brief()} {cli.text[:200]!r}")
            else:
                sessions[cli.json()["session_id"]] = (ident, workflow, {})
    # Read everything back through the CLI (get and list) and the worker.
    for sid, (ident, workflow, meta) in sessions.items():
        got = session_get(url, sid)
        if (got["agent_id"], got["workflow_id"], got["metadata"]) != (ident, workflow, meta):
            problems.append(f"get {sid[:8]} ({ident!r}): {got}")
        reply = worker.call({"id": f"g{sid}", "op": "get", "session_id": sid})
        if not reply or (reply["session"]["agent_id"], reply["session"]["workflow_id"]) != (ident, workflow):
            problems.append(f"worker get {ident!r}: {reply}")
        expected_keys.add(f"opscore:session:{sid}".encode())
    listed_ok = 0
    for ident in HOSTILE_IDS:
        mine = {sid for sid, value in sessions.items() if value[0] == ident}
        result = opscore(url, "session", "list", "--agent", ident)
        found = {o["session_id"] for o in result.json_lines()} if result.rc == 0 else None
        if found != mine:
            problems.append(f"session list {ident!r}: {found} != {mine}")
        else:
            listed_ok += 1
    listed = opscore(url, "agent", "list")
    agents = {o["agent_id"] for o in listed.json_lines()} if listed.rc == 0 else set()
    if agents != set(HOSTILE_IDS):
        problems.append(f"agent list differs: missing {set(HOSTILE_IDS) - agents}, extra {agents - set(HOSTILE_IDS)}")
    # Control characters are refused before anything is written (DESIGN: no control characters).
    with server.admin() as admin:
        before = admin.snapshot()
    refused = 0
    for index, ident in enumerate(CONTROL_IDS):
        for request in ({"id": f"cr{index}", "op": "register_agent", "agent_id": ident},
                        {"id": f"cs{index}", "op": "start", "agent_id": HOSTILE_IDS[0], "workflow_id": ident},
                        {"id": f"ct{index}", "op": "start", "agent_id": ident, "workflow_id": "w"}):
            reply = worker.call(request)
            if (reply or {}).get("error", {}).get("code") != "invalid_input":
                problems.append(f"control id {ident!r} in {request['op']}: {reply} (want invalid_input)")
            else:
                refused += 1
        if "\u0000" in ident:
            continue    # argv cannot carry NUL
        cli = opscore(url, "agent", "register", ident)
        if cli.rc != 64:
            problems.append(f"CLI agent register {ident!r}: {cli.brief()} (want 64)")
        else:
            refused += 1
    # Bad metadata: refused with 64 by start and update, nothing changes.
    target = next(iter(sessions))
    bad_metadata = {
        "over 64 KiB": json.dumps({"big": "x" * 70000}),
        "65 levels of objects": '{"a":' * 65 + "1" + "}" * 65,
        "65 levels (arrays)": '{"a":' + "[" * 64 + "]" * 64 + "}",
        "10000 levels": "[" * 10000 + "]" * 10000,
        "[1]": "[1]", '"x"': '"x"', "3": "3", "null": "null", "not JSON": '{"a":',
    }
    meta_results = []
    for label, text in bad_metadata.items():
        start = opscore(url, "session", "start", "--agent", HOSTILE_IDS[0], "--workflow", "w", "--metadata", text)
        update = opscore(url, "session", "update", target, "--metadata", text)
        meta_results.append(start.rc == 64 and update.rc == 64)
        if start.rc != 64 or update.rc != 64 or not start.error_text.startswith("error:"):
            problems.append(f"metadata {label}: start {start.brief()}, update {update.brief()} (want 64)")
    # Boundaries that must still be accepted: 64 levels deep.
    deep_ok = opscore(url, "session", "update", target, "--metadata", '{"d":' * 63 + "{}" + "}" * 63)
    if deep_ok.rc != 0:
        problems.append(f"metadata nested 64 levels refused: {deep_ok.brief()}")
    with server.admin() as admin:
        after = admin.snapshot()
        keys = admin.scan_all()
    target_key = f"opscore:session:{target}".encode()
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    if changed - {target_key, b"opscore:sessions:by_update"}:
        problems.append(f"refused input changed keys: {sorted(changed)[:5]}")
    if deep_ok.rc == 0:
        version_before = int(before[target_key][1][b"version"])
        version_after = int(after[target_key][1][b"version"])
        if version_after != version_before + 1:
            problems.append(f"refused updates changed the version: {version_before} -> {version_after} (one accepted update)")
    # Keys: exactly the documented forms, agent index keys exactly prefix + id + suffix.
    outside = [k for k in keys if not k.startswith(b"opscore:")]
    undocumented = [k for k in keys if k not in expected_keys]
    missing = [k for k in expected_keys if k not in keys]
    for key in keys:
        if key.startswith(b"opscore:session:") and not UUID_RE.match(key[len(b"opscore:session:"):]):
            problems.append(f"session key without a UUID: {key!r}")
    if outside or undocumented or missing:
        problems.append(f"keys outside namespace {outside[:3]}, undocumented {undocumented[:3]}, missing {missing[:3]}")
    if worker.finish() != 0:
        problems.append("worker did not exit 0")
    detail = (f"{len(HOSTILE_IDS)} ids (spaces, * {{}} : quotes, opscore:agents-like, ü 日本 emoji, 256 bytes) "
              f"in {len(sessions)} sessions via worker+CLI (get, list x{listed_ok} matched); "
              f"{len(keys)} keys; {refused} control-character ids refused "
              f"(invalid_input / exit 64, DESIGN: no control characters); "
              f"{sum(meta_results)}/{len(bad_metadata)} bad metadata refused with 64 by start and update")
    if not problems:
        detail += "; ids read back exactly, keys only of the documented forms, refused input changed nothing"
    return problems, detail


def check_soak():
    problems = []
    total = int(os.environ.get("SOAK_REQUESTS", "200000"))
    warmup = min(20000, total // 10)
    server = RedisServer("soak")
    server.start()
    worker_err_path = os.path.join(RUN_DIR, "soak.worker.err")
    err_file = open(worker_err_path, "wb")
    proc = spawn([BIN, "--redis-url", server.url, "worker", "--concurrency", "4"],
                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err_file)
    # 50 sessions through the worker itself.
    proc.stdin.write(b'{"id":"reg","op":"register_agent","agent_id":"soak"}\n')
    proc.stdin.flush()
    registered = json.loads(proc.stdout.readline())
    if not registered.get("ok"):
        return [f"register_agent failed: {registered}"], "setup failed"
    setup = [{"id": f"s{i}", "op": "start", "agent_id": "soak", "workflow_id": "soak"} for i in range(50)]
    proc.stdin.write("".join(json.dumps(r) + "\n" for r in setup).encode())
    proc.stdin.flush()
    sessions = []
    for _ in setup:
        reply = json.loads(proc.stdout.readline())
        if reply.get("id", "").startswith("s") and reply.get("ok"):
            sessions.append(reply["session"]["session_id"])
    if len(sessions) != 50:
        problems.append(f"only {len(sessions)} of 50 sessions started")
        return problems, "setup failed"
    state = {"count": 0, "ok": 0, "errors": collections.Counter(), "warm_rss": None, "warm_t": None, "peak": 0}
    done = threading.Event()

    def rss():
        with open(f"/proc/{proc.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def reader():
        last_sample = time.monotonic()
        for line in proc.stdout:
            state["count"] += 1
            if b'"ok":true' in line:
                state["ok"] += 1
            else:
                try:
                    state["errors"][json.loads(line)["error"]["code"]] += 1
                except (ValueError, KeyError, TypeError):
                    state["errors"]["unparsable"] += 1
            if state["count"] == warmup:
                state["warm_rss"], state["warm_t"] = rss(), time.monotonic()
            if state["count"] & 1023 == 0 and time.monotonic() - last_sample > 1:
                state["peak"] = max(state["peak"], rss())
                last_sample = time.monotonic()
            if state["count"] == total:
                break
        state["end_t"] = time.monotonic()
        done.set()

    ids = [s.encode() for s in sessions]

    def writer():
        chunk = []
        try:
            for n in range(total):
                chunk.append(b'{"id":%d,"op":"update","session_id":"%s","metadata":{"k":%d}}\n' % (n, ids[n % 50], n % 100))
                if len(chunk) == 2000:
                    proc.stdin.write(b"".join(chunk))
                    chunk = []
            if chunk:
                proc.stdin.write(b"".join(chunk))
            proc.stdin.flush()
        except (OSError, ValueError) as error:
            log(f"soak writer stopped: {error}")

    read_thread = threading.Thread(target=reader, daemon=True)
    read_thread.start()
    t0 = time.monotonic()
    write_thread = threading.Thread(target=writer, daemon=True)
    write_thread.start()
    budget = float(os.environ.get("SOAK_MAX_SECONDS", "150"))
    finished = done.wait(budget)
    elapsed = state.get("end_t", time.monotonic()) - t0
    end_rss = rss()
    state["peak"] = max(state["peak"], end_rss)
    if not finished:
        problems.append(f"only {state['count']} of {total} replies within {budget:.0f} s")
    proc.stdin.close()
    try:
        rc = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        rc = None
    if rc != 0:
        problems.append(f"worker exit status {rc} after EOF")
    if state["ok"] != total:
        problems.append(f"{total - state['ok']} requests failed: {dict(state['errors'])}")
    with server.admin() as admin:
        versions = [int(admin.cmd("HGET", f"opscore:session:{s}", "version")) for s in sessions]
    if sum(v - 1 for v in versions) != state["ok"]:
        problems.append(f"sum of (version - 1) over sessions is {sum(v - 1 for v in versions)}, acked {state['ok']}")
    growth = None
    if state["warm_rss"] is not None:
        growth = end_rss - state["warm_rss"]
        if growth > 20 * 1024:
            problems.append(f"RSS grew {growth} KiB after warm-up (limit 20480 KiB)")
    else:
        problems.append("no warm-up RSS sample")
    rate = state["count"] / elapsed if elapsed else 0
    steady = (state["count"] - warmup) / (t0 + elapsed - state["warm_t"]) if state["warm_t"] else 0
    detail = (f"{total} updates to 50 sessions in {elapsed:.1f}s ({rate:.0f} req/s overall, "
              f"{steady:.0f} req/s after warm-up), {state['ok']} ok; RSS {state['warm_rss']} KiB after "
              f"{warmup} -> {end_rss} KiB at end (growth {growth} KiB, peak {state['peak']} KiB); "
              f"sum(version-1) = {sum(v - 1 for v in versions)}")
    return problems, detail


CHECKS = {
    "durability": (check_durability, 45),
    "restart": (check_restart, 60),
    "stall": (check_stall, 40),
    "least_privilege": (check_least_privilege, 60),
    "hostile_input": (check_hostile_input, 60),
    "soak": (check_soak, 170),
}


class CheckTimeout(Exception):
    pass


def run_check(name):
    function, budget = CHECKS[name]
    if name == "soak":
        budget = int(float(os.environ.get("SOAK_MAX_SECONDS", "150"))) + 20

    def on_alarm(signum, frame):
        raise CheckTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(budget)
    started = time.monotonic()
    try:
        problems, detail = function()
        ok = not problems
        line_detail = detail if ok else "; ".join(problems) + f" | {detail}"
    except CheckTimeout:
        ok, line_detail = False, f"did not finish within {budget} s"
    except Exception as error:  # noqa: BLE001 - any crash is a failed check
        traceback.print_exc()
        ok, line_detail = False, f"crashed: {type(error).__name__}: {error}"
    finally:
        signal.alarm(0)
        kill_children()
    line = f"{'PASS' if ok else 'FAIL'} {name}: {line_detail} [{time.monotonic() - started:.1f}s]"
    line = line.replace("\n", " ")
    print(line, flush=True)
    with open(RESULTS, "a") as handle:
        handle.write(line + "\n")
    return ok


def main():
    global BIN, RUN_DIR, PIDFILE, RESULTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("checks", nargs="*", default=list(CHECKS))
    args = parser.parse_args()
    BIN, RUN_DIR = args.bin, args.run_dir
    PIDFILE = os.path.join(RUN_DIR, "pids")
    RESULTS = os.path.join(RUN_DIR, "results.txt")
    unknown = [c for c in args.checks if c not in CHECKS]
    if unknown:
        parser.error(f"unknown checks {unknown}; known: {list(CHECKS)}")

    def on_term(signum, frame):
        kill_children()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    failed = 0
    try:
        for name in args.checks:
            log(f"{name} ...")
            if not run_check(name):
                failed += 1
    finally:
        kill_children()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
