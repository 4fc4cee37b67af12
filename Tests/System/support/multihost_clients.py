"""Clients the multi-host scenarios talk through.

``OpsCoreHost`` runs the ``opscore`` binary inside one virtual host;
``start_paced_worker`` starts an ``opscore worker`` there and feeds it its
requests at a steady pace, and ``await_exit`` sees it end; ``LineCollector``
reads a process's output as it comes, stamping each line;
the ``redis_*`` functions use redis-py as an independent client and are meant
to be called inside a namespace with ``VirtualHost.call``.
"""

import json
import subprocess
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .layout import PARTITIONS, event_stream_key, session_key

REDIS_PORT = 6379


class LineCollector:
    """Reads a binary pipe on a thread; keeps (seconds since ORIGIN, line) pairs."""

    def __init__(self, stream, origin):
        self.lines = []
        self._thread = threading.Thread(target=self._read, args=(stream, origin), daemon=True)
        self._thread.start()

    def _read(self, stream, origin):
        for raw in stream:
            self.lines.append((time.monotonic() - origin, raw.decode("utf-8", "replace").rstrip("\n")))

    def join(self, timeout):
        """Waits for end of output (the writer exited) for at most TIMEOUT s."""
        self._thread.join(timeout)

    def texts(self):
        """The lines read so far, without their times."""
        return [text for _, text in list(self.lines)]


class OpsCoreHost:
    """The opscore binary as run on one virtual host, with a fixed environment."""

    def __init__(self, binary, host, env):
        self.binary = binary
        self.host = host
        self.env = env

    def argv(self, *args, as_json=False):
        """The command line for ARGS, with --format json when asked."""
        return [self.binary, *(["--format", "json"] if as_json else []), *args]

    def run(self, *args, as_json=False, timeout=15):
        """Runs one command to completion; returns the CompletedProcess (text)."""
        done = self.host.run(self.argv(*args, as_json=as_json), timeout=timeout, env=self.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return subprocess.CompletedProcess(done.args, done.returncode,
                                           done.stdout.decode("utf-8", "replace"),
                                           done.stderr.decode("utf-8", "replace"))

    def json(self, *args):
        """Runs one command with JSON output; returns the first line parsed."""
        done = self.run(*args, as_json=True)
        if done.returncode != 0:
            raise RuntimeError(f"opscore {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
        return json.loads(done.stdout.splitlines()[0])

    def popen(self, *args, as_json=False, **kwargs):
        """Starts a long-running command (watch, worker) on this host."""
        return self.host.popen(self.argv(*args, as_json=as_json), env=self.env, **kwargs)


def start_paced_worker(opscore, record, err_path, concurrency, pace, origin, global_args=()):
    """`opscore GLOBAL_ARGS worker --concurrency CONCURRENCY` through OPSCORE (an OpsCoreHost), its
    stderr in ERR_PATH, and the thread feeding it RECORD's requests one line every PACE s; its
    replies go to RECORD, stamped in seconds since ORIGIN. Returns (process, feeder thread)."""
    with open(err_path, "wb") as err:
        process = opscore.popen(*global_args, "worker", "--concurrency", str(concurrency),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    record.started = time.monotonic()
    record.replies = LineCollector(process.stdout, origin)
    feeder = threading.Thread(target=feed_paced, args=(record, process, pace, origin),
                              name=f"feed-{record.tag}", daemon=True)
    feeder.start()
    return process, feeder


def feed_paced(record, process, pace, origin):
    """Writes RECORD's requests one line every PACE s, noting in record.sent when (seconds since
    ORIGIN), then closes the worker's stdin."""
    begin = time.monotonic()
    try:
        for i, request in enumerate(record.requests):
            time.sleep(max(0.0, begin + i * pace - time.monotonic()))
            record.sent[request["id"]] = time.monotonic() - origin
            process.stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            process.stdin.flush()
        process.stdin.close()
    except (BrokenPipeError, ValueError):
        record.feed_error = "worker closed its stdin early"


def await_exit(record, process, limit, grace=0.0):
    """Waits for the worker PROCESS to exit on its own within LIMIT (+ GRACE) s of RECORD's start, else
    kills it; notes in RECORD how it ended. Returns what went wrong (it hung, or exited non-zero), else None."""
    try:
        record.exit_status = process.wait(max(1.0, record.started + limit + grace - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        return f"worker {record.tag} hung: still running {limit:.0f} s after start, killed"
    record.exit_after = time.monotonic() - record.started
    record.replies.join(5)
    return None if record.exit_status == 0 else f"worker {record.tag} exited {record.exit_status}"


def redis_client(address, password, timeout=1.0):
    """A redis-py client that fails fast: TIMEOUT s to connect or answer, no retries."""
    return redis.Redis(host=address, port=REDIS_PORT, password=password, decode_responses=True,
                       socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0))


def redis_ping(address, password, timeout=1.0):
    """'PONG' when Redis answers PING, else what went wrong."""
    client = redis_client(address, password, timeout)
    try:
        return "PONG" if client.ping() else "no PONG"
    except (redis.RedisError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        client.close()


def redis_session_hashes(address, password, namespace, session_ids):
    """session id -> its hash (HGETALL; empty when the key does not exist)."""
    client = redis_client(address, password, timeout=5.0)
    try:
        pipeline = client.pipeline(transaction=False)
        for session_id in session_ids:
            pipeline.hgetall(session_key(namespace, session_id))
        return dict(zip(session_ids, pipeline.execute()))
    finally:
        client.close()


def redis_event_feed(address, password, namespace):
    """Every entry of the 16 partitions' event streams: [(partition, stream id, event JSON text)]."""
    client = redis_client(address, password, timeout=5.0)
    try:
        pipeline = client.pipeline(transaction=False)
        for label in PARTITIONS:
            pipeline.xrange(event_stream_key(namespace, label))
        return [(label, entry_id, fields.get("event"))
                for label, entries in zip(PARTITIONS, pipeline.execute()) for entry_id, fields in entries]
    finally:
        client.close()


def redis_group_pending(address, password, namespace, group):
    """partition -> the number of GROUP's pending entries there (XPENDING summary), or the error text."""
    client = redis_client(address, password, timeout=5.0)
    try:
        counts = {}
        for label in PARTITIONS:
            try:
                counts[label] = int(client.xpending(event_stream_key(namespace, label), group)["pending"])
            except redis.ResponseError as error:  # no such stream or group
                counts[label] = f"{type(error).__name__}: {error}"
        return counts
    finally:
        client.close()
