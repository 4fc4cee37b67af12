"""Everything one test (or one module) starts, and stops again at teardown."""

import itertools

from .child_processes import ChildProcesses
from .cli import run_opscore
from .redis_server import RedisServer, SentinelServer
from .watcher import OpsCoreWatcher
from .worker import OpsCoreWorker


class Harness:
    """Starts redis-servers, sentinels, workers and watchers in `directory` for
    one test or module and runs the CLI; close() stops every process it started."""

    def __init__(self, binary, directory):
        self.binary = binary
        self.directory = directory
        self.children = ChildProcesses()
        self.servers = []
        self._names = itertools.count(1)

    def _path(self, name, suffix=""):
        return self.directory / f"{next(self._names)}-{name}{suffix}"

    def _start_server(self, kind, name, settings):
        """A started `kind` (RedisServer or SentinelServer) in a directory of
        its own, given `settings`; close() stops it."""
        directory = self._path(name)
        directory.mkdir(parents=True)
        server = kind(self.children, directory, settings)
        self.servers.append(server)
        server.start()
        return server

    def start_redis(self, *extra_args, name="redis"):
        """A started RedisServer with extra redis-server arguments (e.g. AOF)."""
        return self._start_server(RedisServer, name, extra_args)

    def start_sentinel(self, config_lines, name="sentinel"):
        """A started SentinelServer whose config file holds `config_lines`
        (e.g. `sentinel monitor …`); stopped like the redis-servers."""
        return self._start_server(SentinelServer, name, config_lines)

    def start_server(self, kind, settings=(), name="server"):
        """A started `kind(children, directory, settings)`, a RedisServer
        subclass of a helper's own (e.g. a Cluster node); stopped like the others."""
        return self._start_server(kind, name, settings)

    def start_worker(self, url, name="worker", **options):
        """An OpsCoreWorker; options: concurrency, namespace, extra_args, read_replies."""
        return OpsCoreWorker(self.children, self.binary, url, self._path(name, ".worker.err"), **options)

    def start_watcher(self, url, name="watch", **options):
        """An OpsCoreWatcher; options: namespace, extra_args."""
        return OpsCoreWatcher(self.children, self.binary, url, self._path(name, ".watch.err"), **options)

    def opscore(self, url, *args, **options):
        """One CLI run (see cli.run_opscore); returns a CliResult."""
        return run_opscore(self.binary, url, *args, **options)

    def session_get(self, url, session_id):
        """The session as `opscore session get` prints it (fails loudly)."""
        result = self.opscore(url, "session", "get", session_id)
        assert result.rc == 0, f"session get {session_id}: {result.brief()}"
        return result.json()

    def start_sessions(self, url, agent, count, workflow="wf"):
        """Registers `agent` and starts `count` sessions for it; returns their ids."""
        result = self.opscore(url, "agent", "register", agent)
        assert result.rc == 0, f"agent register: {result.brief()}"
        ids = []
        for _ in range(count):
            result = self.opscore(url, "session", "start", "--agent", agent, "--workflow", workflow)
            assert result.rc == 0, f"session start: {result.brief()}"
            ids.append(result.json()["session_id"])
        return ids

    def close(self):
        for server in self.servers:
            server.stop()
        self.children.stop_all()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
