"""A real redis-server on 127.0.0.1 for one test: its own port and directory."""

import random
import signal
import subprocess
import time

import redis

# Linux hands out ephemeral ports from 32768 up: stay below, so that no client
# socket of this machine can be holding the port we pick.
PORT_RANGE = (20000, 32000)


class RedisServer:
    """redis-server without persistence (unless extra_args ask for it) on a random
    free port below the ephemeral range, in `directory`. It can be killed,
    terminated, frozen (SIGSTOP) and restarted on the same port; stop() always
    gets rid of it. redis-py clients from client() witness what is stored."""

    def __init__(self, children, directory, extra_args=()):
        self.children = children
        self.directory = directory
        self.extra_args = [str(arg) for arg in extra_args]
        self.port = None
        self.proc = None
        self._clients = []

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def url_for(self, user=None, password=None, db=0, query=""):
        """A redis:// URL of this server with credentials, database and query."""
        auth = f"{user or ''}:{password}@" if password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}" + (f"?{query}" if query else "")

    def argv(self):
        return ["redis-server", "--port", self.port, "--bind", "127.0.0.1", "--dir", self.directory,
                "--daemonize", "no", "--logfile", self.directory / "redis.log", "--save", "",
                "--appendonly", "no", "--protected-mode", "yes", *self.extra_args]

    def start(self, timeout=10.0):
        """Starts the server (a new random port the first time, the same port on a
        restart), waits until it answers as itself and returns that moment."""
        first = self.port is None
        for _ in range(5 if first else 1):
            if first:
                self.port = random.randint(*PORT_RANGE)
            self.proc = self.children.spawn(self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_until_ours(timeout):
                return time.monotonic()
        raise RuntimeError(f"redis-server did not start on port {self.port} (see {self.directory}/redis.log)")

    def _wait_until_ours(self, timeout):
        """True once the server on our port is our process; False (and our process
        killed) when it exits, times out, or someone else holds the port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            pid = self.process_id()
            if pid == self.proc.pid:
                return True
            if pid is not None:
                break
            time.sleep(0.02)
        self._kill_and_wait()
        return False

    def process_id(self):
        """The process_id the server on our port reports, or None if none answers."""
        try:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5,
                             socket_connect_timeout=0.5) as probe:
                return int(probe.info("server")["process_id"])
        except (redis.RedisError, OSError):
            return None

    def client(self, **kwargs):
        """A redis-py client (bytes replies) as the default user."""
        kwargs.setdefault("socket_timeout", 5.0)
        client = redis.Redis(host="127.0.0.1", port=self.port, **kwargs)
        self._clients.append(client)
        return client

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def pause(self):
        """SIGSTOP: the server keeps its sockets but answers nothing."""
        self.send_signal(signal.SIGSTOP)

    def resume(self):
        self.send_signal(signal.SIGCONT)

    def shut_down(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig (SIGTERM: clean, SIGKILL: hard) and waits until the process
        is gone; returns that moment."""
        self.send_signal(sig)
        self.proc.wait(timeout=timeout)
        return time.monotonic()

    def _kill_and_wait(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self):
        """Closes the clients and kills the server, whatever state it is in."""
        for client in self._clients:
            try:
                client.close()
            except (redis.RedisError, OSError):
                pass
        self._clients.clear()
        self._kill_and_wait()


class SentinelServer(RedisServer):
    """`redis-server <config> --sentinel` on a random free port in `directory`.
    Sentinel rewrites its config file with what it learns (replicas, other
    sentinels, the current primary), so each sentinel has its own file, written
    once from `config_lines` and kept across restarts."""

    def __init__(self, children, directory, config_lines):
        super().__init__(children, directory)
        self.config_path = directory / "sentinel.conf"
        self.config_path.write_text("".join(f"{line}\n" for line in config_lines))

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def argv(self):
        return ["redis-server", self.config_path, "--sentinel", "--port", self.port, "--bind", "127.0.0.1",
                "--dir", self.directory, "--daemonize", "no", "--logfile", self.directory / "sentinel.log",
                *self.extra_args]

    def running(self):
        return self.proc is not None and self.proc.poll() is None
