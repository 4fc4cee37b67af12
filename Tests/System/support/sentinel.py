"""A Sentinel deployment for one test or module: one primary, two replicas and
three sentinels (quorum 2), all redis-server processes on 127.0.0.1 started
through the harness, so they are stopped at teardown whatever happens."""

import signal
import time

from .probes import ProbedProcesses, quietly

MASTER = "opsmain"
QUORUM = 2
# Every data node may become the primary a replica syncs from: no waiting for
# more replicas before a full sync (the default waits 5 s).
DATA_NODE_ARGS = ("--repl-diskless-sync-delay", "0")
# down-after 1.5 s, not 1 s: after a switch a sentinel reconnects to the new
# primary up to 1 s late (it reconnects at most once a second) and with 1 s it
# can flag the new primary down and fail over a second time.
SENTINEL_SETTINGS = ("down-after-milliseconds {name} 1500", "failover-timeout {name} 5000",
                     "parallel-syncs {name} 1")


class SentinelDeployment(ProbedProcesses):
    """Primary, replicas and sentinels monitoring the primary as `opsmain`.
    Starting it waits until the replicas are in sync and every sentinel knows
    both replicas and the other sentinels, so a failover can happen at once."""

    def __init__(self, harness, replicas=2, sentinels=3, master=MASTER, name="sentinel"):
        super().__init__()
        self.master = master
        self.killed_at = None
        primary = harness.start_redis(*DATA_NODE_ARGS, name=f"{name}-primary")
        self.servers = [primary] + [harness.start_redis(*DATA_NODE_ARGS, "--replicaof", "127.0.0.1", primary.port,
                                                        name=f"{name}-replica{n}") for n in range(1, replicas + 1)]
        # Replicas first: a sentinel learns them from its first INFO of the primary.
        for replica in self.servers[1:]:
            self.wait_replica_of(replica, primary, timeout=10)
        config = [f"sentinel monitor {master} 127.0.0.1 {primary.port} {QUORUM}"]
        config += [f"sentinel {setting.format(name=master)}" for setting in SENTINEL_SETTINGS]
        self.sentinels = [harness.start_sentinel(config, name=f"{name}-sentinel{n}")
                          for n in range(1, sentinels + 1)]
        self.wait_settled(replicas, sentinels - 1)

    # -- addresses ------------------------------------------------------------

    def url(self, query="timeout=1", master=None, db=0, sentinels=None):
        """The redis-sentinel:// URL naming every sentinel (or those given)."""
        hosts = ",".join(sentinel.address for sentinel in (sentinels or self.sentinels))
        return f"redis-sentinel://{hosts}/{db}" + (f"?{query}" if query else "") + f"#{master or self.master}"

    def server_on(self, port):
        """The data node listening on `port`."""
        (server,) = [server for server in self.servers if server.port == port]
        return server

    @property
    def replicas(self):
        """The data nodes other than the current primary."""
        primary = self.current_primary()
        return [server for server in self.servers if server is not primary]

    # -- what the sentinels say -----------------------------------------------

    def live_sentinels(self):
        return [sentinel for sentinel in self.sentinels if sentinel.running()]

    def primary_port_of(self, sentinel):
        """The primary's port as `sentinel` names it, or None."""
        address = quietly(lambda: self.probe(sentinel).sentinel_get_master_addr_by_name(self.master))
        return None if not address else int(address[1])

    def current_primary(self):
        """The data node the first answering sentinel names as primary."""
        for sentinel in self.live_sentinels():
            port = self.primary_port_of(sentinel)
            if port is not None:
                return self.server_on(port)
        raise AssertionError("no sentinel names a primary")

    def wait_settled(self, replicas, other_sentinels, timeout=20.0):
        """Waits until every live sentinel lists `replicas` replicas and
        `other_sentinels` other sentinels (they find each other by hello
        messages every 2 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._knows(sentinel, replicas, other_sentinels) for sentinel in self.live_sentinels()):
                return
            time.sleep(0.1)
        raise AssertionError(f"the sentinels did not find {replicas} replicas and {other_sentinels} "
                             f"other sentinels within {timeout:.0f} s")

    def _knows(self, sentinel, replicas, other_sentinels):
        client = self.probe(sentinel)
        known = quietly(lambda: (len(client.sentinel_slaves(self.master)),
                                  len(client.sentinel_sentinels(self.master))))
        return known == (replicas, other_sentinels)

    # -- data nodes -----------------------------------------------------------

    def wait_replica_of(self, server, primary, timeout=20.0):
        """Waits until `server` replicates from `primary` with its link up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.replicating_from(server) == primary.port:
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"the server on port {server.port} did not become a replica of port "
                             f"{primary.port} within {timeout:.0f} s")

    def online_replicas(self, server):
        """How many replicas `server` (a primary) has online."""
        info = quietly(lambda: self.probe(server).info("replication"), {})
        return sum(1 for key, value in info.items()
                   if key.startswith("slave") and isinstance(value, dict) and value.get("state") == "online")

    # -- failures -------------------------------------------------------------

    def kill_primary(self):
        """SIGKILLs the current primary; returns it (the moment is `killed_at`)."""
        primary = self.current_primary()
        self.killed_at = primary.shut_down(signal.SIGKILL)
        return primary

    def wait_for_failover(self, old_port, timeout=30.0, replicas=1, steady=1.5):
        """Waits until the failover away from `old_port` is over (every sentinel
        names the new primary, none flags it down, it answers ROLE master with
        `replicas` replicas online) and stays over for `steady` seconds, so a
        second failover right after the first is not mistaken for the end.
        Returns the new primary and the seconds from the kill (from the call
        if none) to the moment that state was first seen."""
        started = self.killed_at if self.killed_at is not None else time.monotonic()
        deadline = time.monotonic() + timeout
        held = since = None
        while time.monotonic() < deadline:
            primary = self._settled_primary(replicas)
            if primary is not None and primary.port == old_port:
                primary = None
            if primary is not held:
                held, since = primary, time.monotonic()
            elif held is not None and time.monotonic() - since >= steady:
                return held, since - started
            time.sleep(0.05)
        raise AssertionError(f"no settled failover away from port {old_port} within {timeout:.0f} s")

    def _settled_primary(self, replicas):
        """The primary every live sentinel names with no failover in progress or
        down flag, if it answers ROLE master with `replicas` replicas online."""
        states = [quietly(lambda sentinel=sentinel: self.probe(sentinel).sentinel_master(self.master))
                  for sentinel in self.live_sentinels()]
        if not states or None in states:
            return None
        ports = {int(state["port"]) for state in states}
        flags = set().union(*(state["flags"].split(",") for state in states))
        if len(ports) != 1 or flags & {"s_down", "o_down", "failover_in_progress"}:
            return None
        primary = self.server_on(ports.pop())
        if self.role(primary) == "master" and self.online_replicas(primary) >= replicas:
            return primary
        return None

    @staticmethod
    def restart(server):
        """Starts a killed server again on its port and directory (with its
        original arguments: a primary comes back believing it is one)."""
        return server.start()

    def pause_sentinels(self):
        """SIGSTOPs every sentinel: they accept connections but answer nothing."""
        for sentinel in self.live_sentinels():
            sentinel.pause()

    def stop_sentinels(self, sig=signal.SIGKILL):
        """Stops every sentinel (the data nodes keep running)."""
        for sentinel in self.live_sentinels():
            sentinel.shut_down(sig)
