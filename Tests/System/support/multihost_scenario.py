"""The multi-host scenario's steps, run once by ``run_scenario``.

Three ``opscore worker`` hosts (h1, h2, h3) update the same five sessions
while an ``opscore watch`` host (wa) prints events; a control host (ct) sets
up and reads state with redis-py. All reach one password-protected
redis-server in its own namespace over a bridge. Host 2 is cut off a few
seconds into the run and reconnected a few seconds later. Nothing is judged
here: ``run_scenario`` returns an ``Outcome`` for the checks.
"""

import json
import os
import secrets
import subprocess
import threading
import time

from .multihost_clients import REDIS_PORT, LineCollector, OpsCoreHost, redis_ping, redis_session_hashes
from .multihost_record import (AGENT, CONTROL_HOST, CUT_HOST, HOST_OCTETS, KEY_NAMESPACE, REDIS_OCTET, WATCH_HOST,
                               WITNESS_HOST, WORKER_HOSTS, Outcome, WorkerRecord, decode_hash, request_stream)


class Scenario:
    """Runs the steps in order inside a NetworkLab; see ``run_scenario``."""

    def __init__(self, lab, binary, settings, run_dir):
        self.lab, self.binary, self.settings, self.run_dir = lab, binary, settings, run_dir
        self.format_first = True
        self.password = secrets.token_hex(16)
        self.redis_ip = lab.address(REDIS_OCTET)
        self.outcome = Outcome(settings, run_dir, origin_supported=self._binary_has_origin())

    def report(self, line):
        """Logs a step: printed (pytest shows it when a test fails) and kept in the outcome."""
        self.outcome.log.append(line)
        print(f"multihost: {line}", flush=True)

    def _binary_has_origin(self):
        """True when this build takes --origin (env OPSCORE_ORIGIN), globally or per command."""
        for argv in ([self.binary, "--help"], [self.binary, "worker", "--help"]):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            if "--origin" in done.stdout + done.stderr:
                return True
        return False

    # ------------------------------------------------------------ network
    def build_network(self):
        """Redis's namespace with the bridge, and one namespace per client host."""
        self.hub = self.lab.start_hub(REDIS_OCTET)
        self.hosts = {tag: self.lab.add_host(tag, octet) for tag, octet in HOST_OCTETS.items()}
        names = " ".join(h.namespace for h in self.hosts.values())
        self.report(f"setup: namespaces {self.hub.namespace} {names} with bridge {self.lab.bridge}")

    def start_redis(self):
        """redis-server on the bridge address; requirepass from a 0600 file, not argv."""
        redis_dir = os.path.join(self.run_dir, "redis")
        os.makedirs(redis_dir, mode=0o700, exist_ok=True)
        self.auth_conf = os.path.join(redis_dir, "auth.conf")
        with open(os.open(self.auth_conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(f"requirepass {self.password}\n")
        process = self.hub.popen(
            ["redis-server", self.auth_conf, "--bind", self.redis_ip, "--port", str(REDIS_PORT),
             "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", redis_dir,
             "--daemonize", "no", "--logfile", os.path.join(redis_dir, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while self.ping(self.hub) != "PONG":
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not come up on {self.redis_ip}:{REDIS_PORT}\n"
                                   + self.outcome.tail())
            time.sleep(0.05)
        self.report(f"setup: redis-server (pid {process.pid}) answers on {self.redis_ip}:{REDIS_PORT} "
                    "with a password")

    def ping(self, host, timeout=1.0):
        """redis-py PING of Redis from inside HOST's namespace."""
        return host.call(redis_ping, self.redis_ip, self.password, timeout)

    def ping_from(self, tag, phase):
        """Records (and reports) whether host TAG reaches Redis in PHASE."""
        host = self.hosts[tag]
        result = self.ping(host)
        self.outcome.reachable[f"{tag} {phase}"] = result
        self.report(f"{phase}: {tag} ({host.address} -> {self.redis_ip}): {result}")
        return result

    # ------------------------------------------------------------ opscore
    def opscore(self, tag):
        """The opscore binary on host TAG (its own OPSCORE_ORIGIN)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCORE_")}
        env.update(OPSCORE_REDIS_URL=(f"redis://:{self.password}@{self.redis_ip}:{REDIS_PORT}/0"
                                      "?timeout=1&connect_timeout=1"),
                   OPSCORE_NAMESPACE=KEY_NAMESPACE, OPSCORE_ORIGIN=tag)
        return OpsCoreHost(self.binary, self.hosts[tag], env, format_first=self.format_first)

    def prepare_opscore(self):
        """Finds where --format goes, registers the agent."""
        probe = self.opscore(CONTROL_HOST)
        self.report(f"opscore takes --format {probe.detect_format_position()}")
        self.format_first = probe.format_first
        self.ctl = self.opscore(CONTROL_HOST)
        done = self.ctl.run("agent", "register", AGENT)
        if done.returncode != 0:
            raise RuntimeError(f"opscore agent register {AGENT}: exit {done.returncode}: {done.stderr}")

    def start_watcher(self):
        """`opscore watch` on its own host; waits until it prints a probe session's events."""
        err = open(os.path.join(self.run_dir, "watch.err"), "wb")
        self.watcher = self.opscore(WATCH_HOST).popen("watch", as_json=True, stdin=subprocess.DEVNULL,
                                                      stdout=subprocess.PIPE, stderr=err)
        err.close()
        self.watch_out = LineCollector(self.watcher.stdout, time.monotonic())
        probe = self.ctl.json("session", "start", "--agent", AGENT, "--workflow", "wf-probe")["session_id"]
        for i in range(1, 41):
            if any(probe in line for line in self.watch_out.texts()):
                self.outcome.watcher_subscribed = True
                self.report(f"setup: watcher (pid {self.watcher.pid}) receives events")
                return
            self.ctl.run("session", "update", probe, "--metadata", json.dumps({"probe": i}))
            time.sleep(0.1)
        self.report("setup: watcher printed no event for the probe session within 4 s")

    def start_sessions(self):
        """The sessions under test."""
        for _ in range(self.settings.session_count):
            self.outcome.sessions.append(
                self.ctl.json("session", "start", "--agent", AGENT, "--workflow", "wf")["session_id"])
        self.report(f"sessions: {','.join(self.outcome.sessions)}")

    # ------------------------------------------------------------ the run
    def start_worker(self, tag):
        """One worker and the thread feeding it its paced request stream."""
        record = WorkerRecord(tag, request_stream(tag, self.outcome.sessions, self.settings.requests))
        err = open(os.path.join(self.run_dir, f"{tag}.err"), "wb")
        process = self.opscore(tag).popen("worker", "--concurrency", str(self.settings.concurrency),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        err.close()
        record.started = time.monotonic()
        record.replies = LineCollector(process.stdout, self.start)
        feeder = threading.Thread(target=self.feed, args=(record, process), daemon=True)
        feeder.start()
        self.outcome.workers[tag] = record
        return process, feeder

    def feed(self, record, process):
        """Writes the requests one line every PACE s, then closes the worker's stdin."""
        begin = time.monotonic()
        try:
            for i, request in enumerate(record.requests):
                time.sleep(max(0.0, begin + i * self.settings.pace - time.monotonic()))
                process.stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
                process.stdin.flush()
            process.stdin.close()
        except (BrokenPipeError, ValueError):
            record.feed_error = "worker closed its stdin early"

    def since_start_ms(self):
        return round((time.monotonic() - self.start) * 1000)

    def partition(self):
        """Cuts host 2 off mid-run, checks that it matters, and reconnects it."""
        s, cut = self.settings, self.hosts[CUT_HOST]
        time.sleep(max(0.0, self.start + s.partition_at - time.monotonic()))
        cut.isolate(s.partition_mode, self.redis_ip)
        cut_at = time.monotonic()
        self.outcome.partition_ms["cut"] = self.since_start_ms()
        self.report(f"{CUT_HOST} cut off ({s.partition_mode})")
        self.ping_from(CUT_HOST, "during the partition")
        self.ping_from(WITNESS_HOST, "during the partition")
        time.sleep(max(0.0, cut_at + s.partition_for - time.monotonic()))
        cut.rejoin(s.partition_mode)
        self.outcome.partition_ms["restored"] = self.since_start_ms()
        self.report(f"{CUT_HOST} reconnected")
        deadline = time.monotonic() + 3
        while self.ping(cut) != "PONG" and time.monotonic() < deadline:
            time.sleep(0.1)
        self.ping_from(CUT_HOST, "after the partition")

    def run_workers(self):
        """Three paced workers, the partition, then every worker's end."""
        s = self.settings
        feed_limit, worker_limit = s.feed_seconds + 10, s.feed_seconds + 20
        self.start = time.monotonic()
        started = {tag: self.start_worker(tag) for tag in WORKER_HOSTS}
        self.report(f"3 workers x {s.requests} requests over ~{s.feed_seconds}s, --concurrency {s.concurrency}")
        self.partition()
        for tag, (_, feeder) in started.items():
            feeder.join(max(0.0, self.start + feed_limit + 5 - time.monotonic()))
            if feeder.is_alive() or self.outcome.workers[tag].feed_error:
                self.report(f"feeder for {tag}: {self.outcome.workers[tag].feed_error or 'did not finish'}")
        for tag, (process, _) in started.items():
            self.await_worker(self.outcome.workers[tag], process, worker_limit)
        self.report(f"{CUT_HOST} partition (ms since start): cut {self.outcome.partition_ms['cut']} "
                    f"restored {self.outcome.partition_ms['restored']}")

    def await_worker(self, record, process, limit):
        """Waits for a worker to exit on its own within LIMIT s of its start; else kills it."""
        try:
            record.exit_status = process.wait(max(1.0, record.started + limit + 4 - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            self.outcome.hung.append(f"worker {record.tag} hung: still running {limit}s after start, killed")
            return
        record.exit_after = time.monotonic() - record.started
        record.replies.join(5)
        if record.exit_status != 0:
            self.outcome.hung.append(f"worker {record.tag} exited {record.exit_status}")
        else:
            self.report(f"worker {record.tag} exited 0 after {record.exit_after:.0f}s")

    # ------------------------------------------------------------ the end
    def read_final_state(self):
        """Every session's hash, read by redis-py from the control host."""
        hashes = self.hosts[CONTROL_HOST].call(redis_session_hashes, self.redis_ip, self.password,
                                               KEY_NAMESPACE, self.outcome.sessions)
        self.outcome.final = {sid: decode_hash(fields) for sid, fields in hashes.items() if fields}

    def watcher_caught_up(self):
        """True once the watcher printed an event for every session's final version."""
        seen = set()
        for line in self.watch_out.texts():
            try:
                event = json.loads(line)
                seen.add((event.get("session_id"), event.get("version")))
            except (ValueError, AttributeError):
                continue
        return all(state["version"] is not None and (state["version"] <= 1 or (sid, state["version"]) in seen)
                   for sid, state in self.outcome.final.items())

    def stop_watcher(self):
        """Lets the watcher catch up (at most 5 s), then SIGTERM: it must exit 0 within 5 s."""
        deadline = time.monotonic() + 5
        while not self.watcher_caught_up() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.watcher.terminate()
        stopped = time.monotonic()
        try:
            status = self.watcher.wait(5)
        except subprocess.TimeoutExpired:
            self.outcome.hung.append("watcher still running 5 s after SIGTERM")
        else:
            if status != 0:
                self.outcome.hung.append(f"watcher exited {status} on SIGTERM (expected 0)")
            else:
                self.outcome.watcher_exit_ms = round((time.monotonic() - stopped) * 1000)
                self.report(f"watcher exited 0 {self.outcome.watcher_exit_ms} ms after SIGTERM")
        self.watch_out.join(5)
        self.outcome.watch_out = self.watch_out.texts()
        with open(os.path.join(self.run_dir, "watch.err"), encoding="utf-8", errors="replace") as f:
            self.outcome.watch_err = f.read().splitlines()

    def forget_password(self):
        """Removes the password file (also when the run failed)."""
        if getattr(self, "auth_conf", None) and os.path.exists(self.auth_conf):
            os.remove(self.auth_conf)


def run_scenario(lab, binary, settings, run_dir):
    """Runs the whole scenario in LAB; returns its Outcome. Cleanup is LAB's job."""
    scenario = Scenario(lab, binary, settings, run_dir)
    try:
        scenario.build_network()
        scenario.start_redis()
        for tag in HOST_OCTETS:
            scenario.ping_from(tag, "setup")
        unreachable = [k for k, v in scenario.outcome.reachable.items() if v != "PONG"]
        if unreachable:
            raise RuntimeError(f"setup: redis not reachable from {unreachable}")
        scenario.prepare_opscore()
        scenario.start_watcher()
        scenario.start_sessions()
        scenario.run_workers()
        scenario.read_final_state()
        scenario.stop_watcher()
    finally:
        scenario.forget_password()
    return scenario.outcome
