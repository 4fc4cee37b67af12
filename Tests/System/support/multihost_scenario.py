"""The multi-host scenario's steps, run once by ``run_scenario``.

Three ``opscore worker`` hosts (h1, h2, h3) update the same five sessions
while an ``opscore watch --since beginning`` host (wa) prints events, an
``opscore consume`` host (co) runs a handler per event and a control host (ct)
sets up and reads state with redis-py. All reach one password-protected
redis-server in its own namespace over a bridge. Host 2 is cut off a few
seconds into the run and reconnected a few seconds later; the watch host is
cut off for a few seconds too, in its own window, while updates are being
committed. Nothing is judged here: ``run_scenario`` returns an ``Outcome`` for
the checks.
"""

import json
import os
import secrets
import shlex
import subprocess
import threading
import time

from .multihost_clients import (REDIS_PORT, LineCollector, OpsCoreHost, await_exit, redis_event_feed,
                                redis_group_pending, redis_ping, redis_session_hashes, start_paced_worker)
from .multihost_record import (AGENT, CONSUME_GROUP, CONSUME_HOST, CONSUMED_FILE, CONTROL_HOST, CUT_HOST, HOST_OCTETS,
                               KEY_NAMESPACE, PARTITION_PHASE, REDIS_OCTET, WATCH_CUT_PHASE, WATCH_HOST, WITNESS_HOST,
                               WORKER_HOSTS, Outcome, WorkerRecord, decode_hash, request_stream)


class Scenario:
    """Runs the steps in order inside a NetworkLab; see ``run_scenario``."""

    def __init__(self, lab, binary, settings, run_dir):
        self.lab, self.binary, self.settings, self.run_dir = lab, binary, settings, run_dir
        self.password = secrets.token_hex(16)
        self.redis_ip = lab.address(REDIS_OCTET)
        self.outcome = Outcome(settings, run_dir)

    def report(self, line):
        """Logs a step: printed (pytest shows it when a test fails) and kept in the outcome."""
        self.outcome.log.append(line)
        print(f"multihost: {line}", flush=True)

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
        return OpsCoreHost(self.binary, self.hosts[tag], env)

    def prepare_opscore(self):
        """Registers the agent."""
        self.ctl = self.opscore(CONTROL_HOST)
        done = self.ctl.run("agent", "register", AGENT)
        if done.returncode != 0:
            raise RuntimeError(f"opscore agent register {AGENT}: exit {done.returncode}: {done.stderr}")

    def start_watcher(self):
        """`opscore watch --since beginning` on its own host; waits until it prints a probe session's events."""
        err = open(os.path.join(self.run_dir, "watch.err"), "wb")
        self.watcher = self.opscore(WATCH_HOST).popen("watch", "--since", "beginning", as_json=True,
                                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
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

    def start_consumer(self):
        """`opscore consume` on its own host: each event's JSON appended to the run's CONSUMED_FILE."""
        self.consumed_path = os.path.join(self.run_dir, CONSUMED_FILE)
        err = open(os.path.join(self.run_dir, "consume.err"), "wb")
        self.consumer = self.opscore(CONSUME_HOST).popen(
            "consume", "--group", CONSUME_GROUP, "--consumer", CONSUME_HOST, "--from", "beginning",
            "--claim-after", "2", "--exec", f"cat >> {shlex.quote(self.consumed_path)}",
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        self.report(f"setup: consumer (pid {self.consumer.pid}) in group {CONSUME_GROUP} appends to {CONSUMED_FILE}")

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
        self.outcome.workers[tag] = record
        return start_paced_worker(self.opscore(tag), record, os.path.join(self.run_dir, f"{tag}.err"),
                                  self.settings.concurrency, self.settings.pace, self.start)

    def since_start_ms(self):
        return round((time.monotonic() - self.start) * 1000)

    def cut_off(self, tag, at, duration, phase, marks):
        """Cuts host TAG off AT s into the run for DURATION s, checks that it matters, and reconnects it.

        Pings from TAG and from the witness host while it is cut off, and from
        TAG once reconnected, are kept as "<host> during <phase>" and "<tag>
        after <phase>"; MARKS name the cut and restore times in partition_ms.
        """
        mode, host = self.settings.partition_mode, self.hosts[tag]
        time.sleep(max(0.0, self.start + at - time.monotonic()))
        host.isolate(mode, self.redis_ip)
        cut_at = time.monotonic()
        self.outcome.partition_ms[marks[0]] = self.since_start_ms()
        self.report(f"{tag} cut off ({mode}) for {phase}")
        self.ping_from(tag, f"during {phase}")
        self.ping_from(WITNESS_HOST, f"during {phase}")
        time.sleep(max(0.0, cut_at + duration - time.monotonic()))
        host.rejoin(mode)
        self.outcome.partition_ms[marks[1]] = self.since_start_ms()
        self.report(f"{tag} reconnected after {phase}")
        deadline = time.monotonic() + 3
        while self.ping(host) != "PONG" and time.monotonic() < deadline:
            time.sleep(0.1)
        self.ping_from(tag, f"after {phase}")

    def partitions(self):
        """Host 2's partition and the watch host's cut, each on its own thread (the windows may overlap)."""
        s, failures = self.settings, []

        def guarded(*args):
            try:
                self.cut_off(*args)
            except BaseException as error:  # re-raised below, on the scenario's thread
                failures.append(error)

        cuts = [(CUT_HOST, s.partition_at, s.partition_for, PARTITION_PHASE, ("cut", "restored")),
                (WATCH_HOST, s.watch_cut_at, s.watch_cut_for, WATCH_CUT_PHASE, ("watch_cut", "watch_restored"))]
        threads = [threading.Thread(target=guarded, args=cut, name=f"cut-{cut[0]}", daemon=True) for cut in cuts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(s.partition_at + s.partition_for, s.watch_cut_at + s.watch_cut_for) + 15)
        if failures:
            raise failures[0]
        if any(thread.is_alive() for thread in threads):
            raise RuntimeError("a cut (isolate, ping or rejoin) did not finish")

    def run_workers(self):
        """Three paced workers, the partition, then every worker's end."""
        s = self.settings
        feed_limit, worker_limit = s.feed_seconds + 10, s.feed_seconds + 20
        self.start = time.monotonic()
        started = {tag: self.start_worker(tag) for tag in WORKER_HOSTS}
        self.report(f"3 workers x {s.requests} requests over ~{s.feed_seconds}s, --concurrency {s.concurrency}")
        self.partitions()
        for tag, (_, feeder) in started.items():
            feeder.join(max(0.0, self.start + feed_limit + 5 - time.monotonic()))
            if feeder.is_alive() or self.outcome.workers[tag].feed_error:
                self.report(f"feeder for {tag}: {self.outcome.workers[tag].feed_error or 'did not finish'}")
        for tag, (process, _) in started.items():
            self.await_worker(self.outcome.workers[tag], process, worker_limit)
        self.workers_ended = time.monotonic()
        cuts = self.outcome.partition_ms
        self.report(f"{CUT_HOST} partition (ms since start): cut {cuts['cut']} restored {cuts['restored']}; "
                    f"{WATCH_HOST} cut {cuts['watch_cut']} restored {cuts['watch_restored']}")

    def await_worker(self, record, process, limit):
        """Waits for a worker to exit on its own within LIMIT s of its start (and 4 s of grace); else kills it."""
        problem = await_exit(record, process, limit, grace=4)
        if problem:
            self.outcome.hung.append(problem)
        else:
            self.report(f"worker {record.tag} exited 0 after {record.exit_after:.0f}s")

    # ------------------------------------------------------------ the end
    def read_final_state(self):
        """Every session's hash, read by redis-py from the control host."""
        hashes = self.hosts[CONTROL_HOST].call(redis_session_hashes, self.redis_ip, self.password,
                                               KEY_NAMESPACE, self.outcome.sessions)
        self.outcome.final = {sid: decode_hash(fields) for sid, fields in hashes.items() if fields}

    def read_feed(self):
        """Every entry of the 16 event streams (the committed changes), read by redis-py from the control host."""
        self.outcome.feed = self.hosts[CONTROL_HOST].call(redis_event_feed, self.redis_ip, self.password,
                                                          KEY_NAMESPACE)
        self.committed = set()
        for _, _, text in self.outcome.feed:
            try:
                event = json.loads(text)
                self.committed.add((event.get("session_id"), event.get("version")))
            except (TypeError, ValueError, AttributeError):
                continue
        self.report(f"feed: {len(self.outcome.feed)} events in the streams")

    @staticmethod
    def event_keys(lines):
        """(session_id, version) of every JSON event among LINES."""
        seen = set()
        for line in lines:
            try:
                event = json.loads(line)
                seen.add((event.get("session_id"), event.get("version")))
            except (ValueError, AttributeError):
                continue
        return seen

    def watcher_caught_up(self):
        """True once the watcher printed every event in the streams."""
        return self.committed <= self.event_keys(self.watch_out.texts())

    def stop_watcher(self):
        """Lets the watcher catch up (at most 5 s), then SIGTERM: it must exit 0 within 5 s."""
        deadline = time.monotonic() + 5
        while not self.watcher_caught_up() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.report(f"watcher {'printed' if self.watcher_caught_up() else 'did not print'} every event in the "
                    f"streams {round((time.monotonic() - self.workers_ended) * 1000)} ms after the workers ended")
        _, self.outcome.watcher_exit_ms = self.terminate("watcher", self.watcher, 5)
        self.watch_out.join(5)
        self.outcome.watch_out = self.watch_out.texts()
        self.outcome.watch_err = self.run_file_lines("watch.err")

    def terminate(self, name, proc, timeout):
        """SIGTERM, then wait: (exit status or None, ms to exit when it exited 0 or None).
        Hanging or a non-zero status is noted in outcome.hung."""
        proc.terminate()
        stopped = time.monotonic()
        try:
            status = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.outcome.hung.append(f"{name} still running {timeout} s after SIGTERM")
            return None, None
        if status != 0:
            self.outcome.hung.append(f"{name} exited {status} on SIGTERM (expected 0)")
            return status, None
        exit_ms = round((time.monotonic() - stopped) * 1000)
        self.report(f"{name} exited 0 {exit_ms} ms after SIGTERM")
        return status, exit_ms

    def run_file_lines(self, name):
        """The lines of a file in the run directory (an opscore process's stderr)."""
        with open(os.path.join(self.run_dir, name), encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()

    def consumed_lines(self):
        if not os.path.exists(self.consumed_path):
            return []
        with open(self.consumed_path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()

    def pending(self):
        return self.hosts[CONTROL_HOST].call(redis_group_pending, self.redis_ip, self.password,
                                             KEY_NAMESPACE, CONSUME_GROUP)

    def consumer_caught_up(self):
        """True once the handler ran for every event in the streams and nothing is pending in the group."""
        return (self.committed <= self.event_keys(self.consumed_lines())
                and all(count == 0 for count in self.pending().values()))

    def stop_consumer(self):
        """Lets the consumer handle every committed event (at most consume_wait s after the workers ended),
        then SIGTERM: it must exit 0 within 10 s (it finishes the running handler first)."""
        deadline = self.workers_ended + self.settings.consume_wait
        while not self.consumer_caught_up():
            if time.monotonic() > deadline or self.consumer.poll() is not None:
                self.report(f"consumer not caught up {self.settings.consume_wait:.0f} s after the workers ended "
                            f"(exit status {self.consumer.poll()})")
                break
            time.sleep(0.1)
        else:
            self.outcome.consume_caught_up_ms = round((time.monotonic() - self.workers_ended) * 1000)
            self.report(f"consumer caught up {self.outcome.consume_caught_up_ms} ms after the workers ended")
        self.outcome.consumer_exit_status, self.outcome.consumer_exit_ms = self.terminate("consumer", self.consumer, 10)
        self.outcome.consumed = self.consumed_lines()
        self.outcome.pending = self.pending()
        self.outcome.consume_err = self.run_file_lines("consume.err")

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
        scenario.start_consumer()
        scenario.start_sessions()
        scenario.run_workers()
        scenario.read_final_state()
        scenario.read_feed()
        scenario.stop_watcher()
        scenario.stop_consumer()
    finally:
        scenario.forget_password()
    return scenario.outcome
