"""`--metrics-port`: the worker and `consume` serve Prometheus text at /metrics
(swift-metrics with swift-prometheus, on a FlyingFox listener). A real HTTP
client scrapes during the run; the counters move by exactly what was sent."""

import re
import socket
import subprocess
import time
import urllib.error
import urllib.request

from support.cli import opscore_argv

SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')
MISSING = "00000000-0000-4000-8000-000000000000"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scrape(port, timeout=10.0):
    """{(name, labels): value} of every sample at /metrics, retried until the listener answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                text = response.read().decode()
                break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not Prometheus text: {line!r}"
        samples[(match.group(1), match.group(2) or "")] = float(match.group(3))
    return samples


def value(samples, name, **labels):
    text = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    return samples.get((name, text), 0.0)


def test_worker_request_counters_move_by_exactly_the_requests_sent(harness):
    server = harness.start_redis()
    ids = harness.start_sessions(server.url, "metrics-agent", 3)
    port = free_port()
    worker = harness.start_worker(server.url, "metrics", extra_args=("--metrics-port", str(port)))
    before = scrape(port)
    for n in range(10):
        reply = worker.call({"id": n, "op": "update", "session_id": ids[n % 3], "metadata": {"n": n}})
        assert reply["ok"] is True
    for n in range(3):
        assert worker.call({"id": 100 + n, "op": "get", "session_id": MISSING})["error"]["code"] == "session_not_found"
    worker.write(b'{"id": 200, "op": "frobnicate"}\n{not json\n')
    assert worker.wait_count(15, timeout=10)
    after = scrape(port)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("opscore_requests_total", op="update", outcome="ok") == 10
    assert moved("opscore_requests_total", op="get", outcome="session_not_found") == 3
    assert moved("opscore_requests_total", op="invalid", outcome="invalid_request") == 2
    assert moved("opscore_request_duration_seconds_count", op="update") == 10
    assert moved("opscore_request_duration_seconds_sum", op="update") > 0
    assert value(after, "opscore_request_duration_seconds_bucket", op="update", le="+Inf") == value(after, "opscore_request_duration_seconds_count", op="update")
    assert worker.finish() == 0


def test_the_idle_sweep_counts_the_sessions_it_expired(harness):
    server = harness.start_redis()
    harness.start_sessions(server.url, "idle-agent", 4)
    port = free_port()
    worker = harness.start_worker(server.url, "sweeper", extra_args=(
        "--expire-after", "0.5", "--sweep-interval", "0.1", "--metrics-port", str(port)))
    deadline = time.monotonic() + 10
    while value(scrape(port), "opscore_sessions_expired_total") < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert value(scrape(port), "opscore_sessions_expired_total") == 4
    assert worker.finish() == 0


def test_consume_counts_handled_failed_and_dead_lettered_events_and_reports_its_lag(harness):
    server = harness.start_redis()
    ids = harness.start_sessions(server.url, "consume-agent", 5)     # 5 events in the streams
    port = free_port()
    argv = opscore_argv(harness.binary, server.url) + [
        "consume", "--group", "ok-group", "--from", "beginning", "--exec", "exit 0", "--metrics-port", str(port)]
    with open(harness.directory / "consume-ok.err", "wb") as err:
        consumer = harness.children.spawn(argv, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 15
    while value(scrape(port), "opscore_events_consumed_total", group="ok-group") < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    samples = scrape(port)
    assert value(samples, "opscore_events_consumed_total", group="ok-group") == 5
    assert value(samples, "opscore_events_failed_total", group="ok-group") == 0
    # The lag gauge is refreshed every 2 s; once everything is handled it reads 0.
    time.sleep(2.5)
    assert ("opscore_consumer_lag", '{group="ok-group"}') in scrape(port)
    assert value(scrape(port), "opscore_consumer_lag", group="ok-group") == 0
    consumer.terminate()
    assert consumer.wait(timeout=15) == 0

    # A handler that always fails, dead-lettered on its second delivery.
    port = free_port()
    argv = opscore_argv(harness.binary, server.url) + [
        "consume", "--group", "bad-group", "--from", "beginning", "--exec", "exit 3", "--max-deliveries", "2",
        "--claim-after", "0.2", "--metrics-port", str(port)]
    with open(harness.directory / "consume-bad.err", "wb") as err:
        failing = harness.children.spawn(argv, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 20
    while value(scrape(port), "opscore_events_dead_lettered_total", group="bad-group") < len(ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    samples = scrape(port)
    assert value(samples, "opscore_events_dead_lettered_total", group="bad-group") == 5
    assert value(samples, "opscore_events_failed_total", group="bad-group") == 5     # the first, retried delivery of each
    assert value(samples, "opscore_events_consumed_total", group="bad-group") == 0
    failing.terminate()
    assert failing.wait(timeout=15) == 0


def test_a_taken_metrics_port_is_refused_with_exit_64(harness):
    server = harness.start_redis()
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        taken = harness.opscore(server.url, "worker", "--metrics-port", str(holder.getsockname()[1]))
    assert taken.rc == 64
    assert taken.error_text.startswith("error: cannot serve metrics on port")
