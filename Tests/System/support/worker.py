"""A running `opscore worker`: JSON request lines in, replies collected by id."""

import collections
import json
import subprocess
import threading
import time

from .cli import opscore_argv
from .opscore_process import OpsCoreProcess


class OpsCoreWorker(OpsCoreProcess):
    """`opscore worker --concurrency N`. send() writes a request line; replies
    are kept per id with the time they arrived (`replies[id] = [(time, obj)]`),
    so a second reply for one id is visible. With read_replies=False the caller
    reads `proc.stdout` itself (the soak does, for speed)."""

    def __init__(self, children, binary, url, err_path, concurrency=4, namespace="opscore",
                 extra_args=(), read_replies=True):
        argv = opscore_argv(binary, url, namespace, output_format=None)
        argv += ["worker", "--concurrency", str(concurrency), *extra_args]
        self.replies = collections.defaultdict(list)
        self.bad_lines = []
        self.reply_count = 0
        self.sent = {}      # id -> time the request was written
        self._write_lock = threading.Lock()
        super().__init__(children, argv, err_path, stdin=subprocess.PIPE, read_stdout=read_replies)

    def on_line(self, line, when):
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
                self.replies[key].append((when, obj))
            self.cond.notify_all()

    def write(self, data):
        """Writes raw bytes to the worker's stdin (one writer at a time)."""
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, request, ensure_ascii=False):
        data = (json.dumps(request, ensure_ascii=ensure_ascii) + "\n").encode()
        with self.cond:
            self.sent[request.get("id")] = time.monotonic()
        self.write(data)

    def _wait_for(self, ready, timeout):
        with self.cond:
            return bool(self.cond.wait_for(ready, timeout))

    def wait_reply(self, key, timeout=10.0):
        """The first reply for id `key`, or None after timeout."""
        if self._wait_for(lambda: self.replies.get(key), timeout):
            return self.replies[key][0][1]
        return None

    def call(self, request, timeout=10.0, ensure_ascii=False):
        self.send(request, ensure_ascii=ensure_ascii)
        return self.wait_reply(request["id"], timeout)

    def wait_count(self, count, timeout):
        """True once `count` reply lines have arrived."""
        return self._wait_for(lambda: self.reply_count >= count, timeout)

    def latency(self, key):
        """Seconds from sending request `key` to its first reply (None if none)."""
        entries = self.replies.get(key)
        return entries[0][0] - self.sent[key] if entries else None

    def finish(self, timeout=20.0):
        """Closes stdin (end of input), waits for the worker to exit and returns
        its exit code (None if it did not exit within timeout)."""
        try:
            with self._write_lock:
                self.proc.stdin.close()
        except OSError:
            pass
        rc = self.wait_exit(timeout)
        if rc is not None:
            self.join_reader()
        return rc
