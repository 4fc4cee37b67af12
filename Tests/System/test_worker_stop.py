"""A worker can always be stopped: SIGTERM stops reading at once and drains the
requests already read for at most --drain-timeout, even when nobody reads its
replies; a second SIGTERM exits at once; a line cut short by the stop is not
answered; a reader that went away gives EPIPE, never a death by SIGPIPE.
"""

import json
import signal
import subprocess
import threading
import time

from support.child_processes import spawn, stop

# A reply is ~400 bytes: this many fill any pipe buffer several times over.
FLOOD = 2000


def flood_unread_worker(harness, url, drain_timeout):
    """A worker whose stdout nobody reads, sent enough gets to block its writes."""
    (sid,) = harness.start_sessions(url, "stop-agent", 1)
    worker = harness.start_worker(url, "unread", concurrency=2, read_replies=False,
                                  extra_args=("--drain-timeout", str(drain_timeout)))
    lines = "".join(json.dumps({"id": n, "op": "get", "session_id": sid}) + "\n" for n in range(FLOOD))

    def feed():
        try:
            worker.write(lines.encode())    # blocks once the worker stops reading
        except (BrokenPipeError, OSError, ValueError):
            pass    # the worker exited

    threading.Thread(target=feed, daemon=True).start()
    time.sleep(1.5)     # the output pipe fills; every worker thread is now blocked in write(2)
    assert worker.proc.poll() is None, "the worker must still be running, blocked on its output"
    return worker


def test_sigterm_stops_a_worker_blocked_on_an_unread_stdout_within_the_drain_timeout(harness, figures):
    server = harness.start_redis(name="unread")
    worker = flood_unread_worker(harness, server.url, drain_timeout=1)
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    rc = worker.wait_exit(10)
    elapsed = time.monotonic() - started
    figures.record("worker stop", blocked_writer_sigterm_exit_s=elapsed, drain_timeout_s=1, rc=rc)
    assert rc == 1, f"a drain cut short by the timeout exits 1, got {rc}"
    assert elapsed < 3.0, f"took {elapsed:.2f}s with --drain-timeout 1"
    assert "drain timeout" in worker.stderr_text()


def test_a_second_sigterm_exits_at_once(harness, figures):
    server = harness.start_redis(name="second")
    worker = flood_unread_worker(harness, server.url, drain_timeout=60)
    worker.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.proc.poll() is None, "the first SIGTERM drains (for up to 60 s here)"
    started = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    rc = worker.wait_exit(5)
    elapsed = time.monotonic() - started
    figures.record("worker stop", second_sigterm_exit_s=elapsed, second_rc=rc)
    assert rc == 128 + signal.SIGTERM, f"expected exit {128 + signal.SIGTERM}, got {rc}"
    assert elapsed < 1.0


def test_sigterm_answers_what_was_read_but_not_a_line_cut_short(harness):
    server = harness.start_redis(name="partial")
    (sid,) = harness.start_sessions(server.url, "stop-agent", 1)
    worker = harness.start_worker(server.url, "partial", concurrency=2)
    assert worker.call({"id": "whole", "op": "get", "session_id": sid})["ok"] is True
    worker.write(b'{"id":"half","op":"get","session_id":"' + sid.encode())     # no newline yet
    time.sleep(0.5)
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait_exit(10) == 0
    worker.join_reader()
    assert set(worker.replies) == {"whole"}, f"replies: {dict(worker.replies)}"
    assert worker.bad_lines == []


def test_a_reader_gone_before_any_redis_connection_gives_epipe_not_sigpipe(opscore_bin, tmp_path):
    """The first reply (to a malformed line, so no Redis connection is ever made)
    goes to a pipe whose reader is gone: the worker must see EPIPE and stop."""
    err_path = tmp_path / "worker.err"
    with open(err_path, "wb") as err:
        proc = spawn([opscore_bin, "--redis-url", "redis://127.0.0.1:1/0", "worker"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    try:
        proc.stdout.close()     # the reader is gone
        proc.stdin.write(b"this is not json\n")
        proc.stdin.flush()
        rc = proc.wait(timeout=10)
    finally:
        stop(proc)
    assert rc != -signal.SIGPIPE, "killed by SIGPIPE"
    assert rc == 0, f"rc={rc}: {err_path.read_text()}"
    assert "cannot write replies" in err_path.read_text()
