"""A Redis Cluster for one test or module: three primaries with `replicas`
replicas each, every node a redis-server on 127.0.0.1 started through the
harness (so it is stopped at teardown whatever happens), joined with
`redis-cli --cluster create`. Starting it waits until every node reports
`cluster_state:ok`, all 16384 slots are assigned, every node sees the same
slot owners and every replica is in sync.

It moves slots the way an operator (or `redis-cli --cluster reshard`) does,
step by step, so that clients meet `ASK` (keys already moved while the slot
migrates) and `MOVED` (after the switch), and it kills primaries and waits
for Redis Cluster to promote one of their replicas."""

import random
import signal
import subprocess
import time

import redis
import redis.cluster

from .probes import ProbedProcesses, quietly
from .redis_server import RedisServer

SLOTS = 16384
# Each node also listens on its cluster bus port, data port + 10000: both stay
# below the ephemeral range (32768 up), so no client socket can hold either.
CLUSTER_PORTS = (20000, 22700)
NODE_TIMEOUT_MS = 2000
# Every primary may have a replica to feed: no waiting before a full sync
# (the default waits 5 s).
NODE_ARGS = ("--cluster-enabled", "yes", "--cluster-node-timeout", NODE_TIMEOUT_MS,
             "--repl-diskless-sync-delay", "0")
# Error replies a cluster node counts in INFO errorstats that mean "go elsewhere" or "wait".
REDIRECTIONS = ("ASK", "MOVED", "TRYAGAIN", "CLUSTERDOWN")


class ClusterNode(RedisServer):
    """A redis-server with cluster mode on, its nodes.conf in its own directory
    (so a restart keeps its identity), on a port whose bus port is free too."""

    def __init__(self, children, directory, extra_args=()):
        super().__init__(children, directory, (*NODE_ARGS, "--cluster-config-file", directory / "nodes.conf",
                                               *extra_args))
        self._node_id = None

    def start(self, timeout=10.0):
        """A random port from CLUSTER_PORTS the first time (another one when the
        port or its bus port is taken), the same port on a restart."""
        if self.port is not None:
            return super().start(timeout)
        for _ in range(8):
            self.port = random.randint(*CLUSTER_PORTS)
            try:
                return super().start(timeout)
            except RuntimeError:
                continue
        raise RuntimeError(f"no cluster node could start (see {self.directory}/redis.log)")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def node_id(self):
        """The node's cluster id (CLUSTER MYID; it never changes, nodes.conf keeps it)."""
        if self._node_id is None:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2.0, decode_responses=True) as probe:
                self._node_id = probe.execute_command("CLUSTER", "MYID")
        return self._node_id

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self):
        return f"<cluster node {self.address}>"


class ClusterDeployment(ProbedProcesses):
    """`primaries` primaries (3 at least: redis-cli will not create fewer) with
    `replicas` replicas each, every slot assigned, every replica in sync.
    Its probes (for polling and node commands) wait 2 s."""

    PROBE_TIMEOUT = 2.0

    def __init__(self, harness, primaries=3, replicas=1, name="cluster"):
        super().__init__()
        self.killed_at = None
        self.killed_slots = {}
        self.nodes = [harness.start_server(ClusterNode, (), name=f"{name}-node{n}")
                      for n in range(1, primaries * (replicas + 1) + 1)]
        created = subprocess.run(["redis-cli", "--cluster", "create", *(node.address for node in self.nodes),
                                  "--cluster-replicas", str(replicas), "--cluster-yes"],
                                 stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if created.returncode != 0:
            raise AssertionError(f"redis-cli --cluster create failed: {created.stdout.decode()[-2000:]}"
                                 f"{created.stderr.decode()[-2000:]}")
        self.wait_settled(replicas_each=replicas)
        for node in self.nodes:
            assert node.node_id     # known from now on, also once the node is dead

    # -- addresses ------------------------------------------------------------

    def url(self, query="timeout=1", nodes=None, user=None, password=None):
        """The redis-cluster:// URL naming every node (or those given) as seeds."""
        auth = f"{user or ''}:{password}@" if password is not None else ""
        hosts = ",".join(node.address for node in (nodes or self.nodes))
        return f"redis-cluster://{auth}{hosts}" + (f"?{query}" if query else "")

    def node_on(self, port):
        (node,) = [node for node in self.nodes if node.port == int(port)]
        return node

    def node_with_id(self, node_id):
        (node,) = [node for node in self.nodes if node.node_id == node_id]
        return node

    def live_nodes(self):
        return [node for node in self.nodes if node.running()]

    # -- clients --------------------------------------------------------------

    def client(self, **kwargs):
        """A cluster-aware redis-py client (bytes replies) seeded with the live
        nodes: it reads the slot map now, so make a new one after a failover."""
        kwargs.setdefault("socket_timeout", 5.0)
        startup = [redis.cluster.ClusterNode("127.0.0.1", node.port) for node in self.live_nodes()]
        return redis.cluster.RedisCluster(startup_nodes=startup, **kwargs)

    def node_client(self, node, **kwargs):
        """A plain client of one node (bytes replies): it sees only that node's keys."""
        return node.client(**kwargs)

    # -- what the nodes say ---------------------------------------------------

    def cluster_info(self, node):
        """CLUSTER INFO as a dict of strings, or {} when the node does not answer."""
        text = quietly(lambda: self.probe(node).execute_command("CLUSTER", "INFO"), "")
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def cluster_nodes(self, node):
        """CLUSTER NODES as seen by `node`: {node id: {port, flags, master, slots,
        link, transfers}} (flags and slots as sets; `node`'s own migrating and
        importing markers under transfers), or None when it does not answer."""
        text = quietly(lambda: self.probe(node).execute_command("CLUSTER", "NODES"))
        if text is None:
            return None
        view = {}
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 8:
                continue
            node_id, address, flags, master, _, _, _, link = fields[:8]
            slots, transfers = set(), []
            for spec in fields[8:]:
                if spec.startswith("["):
                    transfers.append(spec)
                elif "-" in spec:
                    low, high = spec.split("-")
                    slots.update(range(int(low), int(high) + 1))
                else:
                    slots.add(int(spec))
            port = int(address.split("@")[0].rsplit(":", 1)[1])
            view[node_id] = {"port": port, "flags": set(flags.split(",")), "master": master,
                             "slots": slots, "link": link, "transfers": transfers}
        return view

    def slot_owners(self, node):
        """{slot: owner port} as `node` sees it (CLUSTER SLOTS), or None."""
        ranges = quietly(lambda: self.probe(node).execute_command("CLUSTER", "SLOTS"))
        if ranges is None:
            return None
        owners = {}
        for entry in ranges:
            low, high, primary = entry[0], entry[1], entry[2]
            for slot in range(int(low), int(high) + 1):
                owners[slot] = int(primary[1])
        return owners

    def _consensus(self, nodes=None):
        """{slot: owner port} when every live node (or those given) sees the same
        complete map, else None."""
        views = [self.slot_owners(node) for node in (nodes or self.live_nodes())]
        if not views or any(view is None or len(view) != SLOTS for view in views):
            return None
        return views[0] if all(view == views[0] for view in views[1:]) else None

    def primaries(self):
        """The primaries serving slots, by their lowest slot (every live node agreeing)."""
        owners = self._wait(self._consensus, "the nodes to agree on the slot map", timeout=10)
        lowest = {}
        for slot, port in owners.items():
            lowest.setdefault(port, slot)
        return [self.node_on(port) for port, _ in sorted(lowest.items(), key=lambda item: item[1])]

    def master_id_of(self, node):
        """The id of the primary `node` follows by its own view ("-" for a
        primary), or None when it does not answer."""
        view = self.cluster_nodes(node) or {}
        mine = [entry for entry in view.values() if "myself" in entry["flags"]]
        return mine[0]["master"] if mine else None

    def replicas_of(self, primary):
        """The live nodes that follow `primary` by their own view (also when
        `primary` is dead and their link to it is down)."""
        return [node for node in self.live_nodes() if node is not primary
                and self.master_id_of(node) == primary.node_id]

    def replica_of(self, primary):
        """The primary's replica (the first, when there are several)."""
        replicas = self.replicas_of(primary)
        assert replicas, f"{primary} has no replica"
        return replicas[0]

    def slot_of(self, key):
        """CLUSTER KEYSLOT as a node computes it."""
        return int(self.probe(self.live_nodes()[0]).execute_command("CLUSTER", "KEYSLOT", key))

    def slot_of_partition(self, label):
        """The slot of every key of partition `label` (hash tag {label})."""
        return self.slot_of(f"{{{label}}}")

    def owner_of_slot(self, slot):
        """The primary owning `slot` (every live node agreeing)."""
        owners = self._wait(self._consensus, "the nodes to agree on the slot map", timeout=10)
        return self.node_on(owners[slot])

    def owner_of_key(self, key):
        return self.owner_of_slot(self.slot_of(key))

    def slots_of(self, primary):
        """The slots `primary` owns (every live node agreeing)."""
        owners = self._wait(self._consensus, "the nodes to agree on the slot map", timeout=10)
        return sorted(slot for slot, port in owners.items() if port == primary.port)

    def redirections(self):
        """INFO errorstats summed over the live nodes for the error replies in
        REDIRECTIONS: how often clients were sent elsewhere or asked to wait."""
        totals = dict.fromkeys(REDIRECTIONS, 0)
        for node in self.live_nodes():
            stats = quietly(lambda node=node: self.probe(node).info("errorstats"), {})
            for name in REDIRECTIONS:
                entry = stats.get(f"errorstat_{name}")
                if isinstance(entry, dict):
                    totals[name] += int(entry.get("count", 0))
        return totals

    # -- waiting --------------------------------------------------------------

    @staticmethod
    def _wait(ready, what, timeout, interval=0.05):
        """ready()'s first truthy value, polling until timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = ready()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def _settled(self, replicas_each=None):
        """True when every live node is ok with all slots assigned, they agree on
        the slot owners, no slot is migrating or importing, every primary has
        `replicas_each` live replicas (if given) and every live replica's link is up."""
        nodes = self.live_nodes()
        for node in nodes:
            info = self.cluster_info(node)
            if info.get("cluster_state") != "ok" or info.get("cluster_slots_assigned") != str(SLOTS):
                return False
        owners = self._consensus(nodes)
        if owners is None:
            return False
        primaries = {port for port in owners.values()}
        for node in nodes:
            view = self.cluster_nodes(node)
            if view is None or any(entry["transfers"] for entry in view.values()):
                return False
            if node.port in primaries:
                if self.role(node) != "master":
                    return False
                continue
            if self.replicating_from(node) not in primaries:
                return False
        if replicas_each is not None:
            for port in primaries:
                live = [node for node in nodes if self.replicating_from(node) == port]
                if len(live) != replicas_each:
                    return False
        return True

    def wait_settled(self, replicas_each=None, timeout=30.0):
        """Waits until the cluster is settled (see _settled); returns that moment."""
        self._wait(lambda: self._settled(replicas_each), "the cluster to settle", timeout, interval=0.1)
        return time.monotonic()

    # -- resharding -----------------------------------------------------------

    def move_slot(self, slot, target, pause=0.0, batch=10, key_pause=None):
        """Moves `slot` with its keys to primary `target` the way an operator does:
        IMPORTING on the target, MIGRATING on the source, the keys in batches of
        `batch` (MIGRATE … KEYS), then SETSLOT NODE on the target, the source and
        the other primaries. `pause` seconds pass after each step (and
        `key_pause`, default `pause`, after each batch), so clients meet ASK
        while the keys are split between the nodes and MOVED afterwards.
        Returns the seconds it took until every live node names the new owner."""
        started = time.monotonic()
        source = self.start_migration(slot, target)
        time.sleep(pause)
        self.migrate_keys(slot, source, target, batch, pause if key_pause is None else key_pause)
        time.sleep(pause)
        self.finish_migration(slot, source, target)
        return time.monotonic() - started

    def start_migration(self, slot, target):
        """`slot` IMPORTING on `target`, MIGRATING on its owner; returns the owner."""
        source = self.owner_of_slot(slot)
        assert source is not target, f"slot {slot} is on {target} already"
        self.probe(target).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        self.probe(source).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
        return source

    def migrate_keys(self, slot, source, target, batch=10, key_pause=0.0):
        """MIGRATEs the keys of `slot` still on `source` to `target`, `batch` at a
        time, `key_pause` seconds after each batch, until none is left."""
        src = self.probe(source)
        while True:
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                return
            try:
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            except redis.ResponseError as error:
                if "NOKEY" not in str(error):
                    raise
            time.sleep(key_pause)

    def finish_migration(self, slot, source, target):
        """SETSLOT NODE on the target, the source and the other primaries; waits
        until every live node names the target as the owner."""
        self.probe(target).execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        self.probe(source).execute_command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
        for node in self.primaries_by_view(exclude=(source, target)):
            quietly(lambda node=node: self.probe(node).execute_command("CLUSTER", "SETSLOT", slot, "NODE",
                                                                          target.node_id))
        self._wait(lambda: (owners := self._consensus()) is not None and owners[slot] == target.port,
                   f"every node to name {target} as the owner of slot {slot}", timeout=15)

    def primaries_by_view(self, exclude=()):
        """The live primaries some live node lists (no consensus needed: used mid-move)."""
        for node in self.live_nodes():
            view = self.cluster_nodes(node)
            if view:
                ports = {entry["port"] for entry in view.values()
                         if "master" in entry["flags"] and "fail" not in entry["flags"]}
                return [self.node_on(port) for port in sorted(ports)
                        if self.node_on(port).running() and self.node_on(port) not in exclude]
        return []

    # -- failures -------------------------------------------------------------

    def kill_primary(self, primary):
        """SIGKILLs `primary`; returns the moment (also kept as `killed_at`)."""
        self.killed_slots = {primary.port: set(self.slots_of(primary))}
        self.killed_at = primary.shut_down(signal.SIGKILL)
        return self.killed_at

    def wait_for_failover(self, old_primary, timeout=30.0):
        """Waits until one of `old_primary`'s replicas owns all its slots in every
        live node's view and the cluster is settled again (every node ok, every
        remaining replica of it following the new primary). Returns the new
        primary and the seconds from the kill (from the call if none)."""
        started = self.killed_at if self.killed_at is not None else time.monotonic()
        old_slots = self.killed_slots.get(old_primary.port) or set(self.slots_of(old_primary))
        candidates = self.replicas_of(old_primary)

        def promoted():
            owners = self._consensus()
            for node in candidates if owners is not None else ():
                if node.running() and old_slots <= {slot for slot, port in owners.items() if port == node.port} \
                        and self._settled():
                    return node, time.monotonic()
            return None

        new_primary, seen_at = self._wait(promoted, f"a replica of {old_primary} to take over its slots", timeout)
        return new_primary, seen_at - started

    def wait_for_promotion(self, replica, timeout=30.0):
        """Waits until `replica` is the primary of its former primary's slots and
        the cluster is settled; returns the seconds from the kill (or the call)."""
        started = self.killed_at if self.killed_at is not None else time.monotonic()
        self._wait(lambda: self.role(replica) == "master" and bool(self._slots_in_consensus(replica))
                   and self._settled(), f"{replica} to be promoted", timeout)
        return time.monotonic() - started

    def _slots_in_consensus(self, node):
        owners = self._consensus()
        return [] if owners is None else [slot for slot, port in owners.items() if port == node.port]
