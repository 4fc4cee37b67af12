"""A throw-away network of Linux network namespaces for system tests.

``NetworkLab`` builds one *hub* namespace holding a bridge and any number of
``VirtualHost`` namespaces, each joined to the bridge by a veth pair. The pairs
are created inside the hub namespace with their far end placed straight into
the host's namespace, so the root namespace's network is never touched: every
address exists only inside namespaces the lab created.

Everything is named ``<prefix><tag>`` and recorded as it is created;
``NetworkLab.close()`` (also run by ``with``) kills every process the lab
started, deletes every link and namespace it made, and is safe to call twice.
Needs root and iproute2 with ``ip netns``.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
NFT_TABLE = "ocpartition"
_LIBC = ctypes.CDLL(None, use_errno=True)


def nft_drop_ruleset(peer):
    """An nftables table that silently drops all traffic to and from PEER."""
    return (f"table inet {NFT_TABLE} {{\n"
            f"    chain out {{ type filter hook output priority 0; ip daddr {peer} drop; }}\n"
            f"    chain in {{ type filter hook input priority 0; ip saddr {peer} drop; }}\n"
            "}\n")


def ip(*args, check=True, timeout=10):
    """Runs ``ip ARGS…``; returns its stdout. Raises with stderr on failure,
    unless CHECK is false (cleanup): then failures and timeouts give ""."""
    try:
        done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        if check:
            raise
        return ""
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def unavailable_reason():
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root: it creates network namespaces and veth links (ip netns add)"
    try:
        done = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"'ip netns' is not available: {error}"
    if done.returncode != 0:
        return f"'ip netns' is not available: {done.stderr.decode(errors='replace').strip()}"
    return None


@contextlib.contextmanager
def sigterm_raises_interrupt():
    """Within the block SIGTERM raises KeyboardInterrupt, so cleanup code still runs."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def namespaces():
    """Names of the network namespaces that exist now."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def root_links():
    """Names of the links in the root namespace."""
    names = []
    for line in ip("-o", "link", "show").splitlines():
        name = line.split(":", 2)[1].strip()
        names.append(name.split("@", 1)[0])
    return names


class VirtualHost:
    """One network namespace with a single veth end on the lab's bridge."""

    def __init__(self, lab, tag, address):
        self.lab = lab
        self.tag = tag
        self.address = address
        self.namespace = lab.prefix + tag
        self.device = f"{lab.prefix}{tag}e"  # inside this namespace
        self.port = f"{lab.prefix}{tag}p"  # the bridge port, inside the hub

    def popen(self, argv, **kwargs):
        """Starts ARGV inside this namespace, in its own session (a signal for the
        test runner does not reach it); the lab kills it on close."""
        argv = ["ip", "netns", "exec", self.namespace, *map(str, argv)]
        return self.lab.track(subprocess.Popen(argv, start_new_session=True, **kwargs))

    def run(self, argv, timeout=15, input=None, **kwargs):
        """Runs ARGV inside this namespace to completion (killed after TIMEOUT s)."""
        process = self.popen(argv, **kwargs)
        try:
            out, err = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def call(self, function, *args, timeout=30):
        """Calls FUNCTION(*ARGS) on a thread that has entered this namespace.

        Sockets opened by FUNCTION live in this namespace; the calling thread
        and the rest of the process stay where they were. Returns its result or
        re-raises its exception.
        """
        outcome = {}

        def enter_and_call():
            try:
                descriptor = os.open(f"/run/netns/{self.namespace}", os.O_RDONLY)
                try:
                    if _LIBC.setns(descriptor, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), f"setns into {self.namespace}")
                finally:
                    os.close(descriptor)
                outcome["value"] = function(*args)
            except BaseException as error:  # handed to the caller
                outcome["error"] = error

        thread = threading.Thread(target=enter_and_call, name=f"netns-{self.tag}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"{function.__name__} in {self.namespace} took over {timeout} s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def set_link(self, up):
        """Brings this host's only link up or down (down: sockets fail at once)."""
        ip("-n", self.namespace, "link", "set", self.device, "up" if up else "down")

    def isolate(self, mode, peer):
        """Cuts this host off from PEER; only this namespace changes.

        ``down``: its link goes down, so sockets fail at once. ``drop``: an
        nftables table silently drops traffic to and from PEER, so commands
        time out and an EXEC's outcome can be unknown.
        """
        if mode == "drop":
            self._nft("-f", "-", stdin_text=nft_drop_ruleset(peer))
        else:
            self.set_link(False)

    def rejoin(self, mode):
        """Undoes isolate(MODE)."""
        if mode == "drop":
            self._nft("delete", "table", "inet", NFT_TABLE)
        else:
            self.set_link(True)

    def _nft(self, *args, stdin_text=""):
        done = self.run(["nft", *args], input=stdin_text.encode(), stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if done.returncode != 0:
            raise RuntimeError(f"nft {' '.join(args)} in {self.namespace}: {done.stderr.decode().strip()}")


class NetworkLab:
    """A hub namespace with a bridge, and hosts attached to it."""

    def __init__(self, prefix, subnet, prefix_length=24):
        self.prefix = prefix
        self.subnet = subnet
        self.prefix_length = prefix_length
        self.hub_namespace = prefix + "r"
        self.bridge = prefix + "br"
        self.hosts = {}
        self.created_namespaces = []
        self.processes = []
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def address(self, last_octet):
        """An address in the lab's subnet."""
        return f"{self.subnet}.{last_octet}"

    def _add_namespace(self, name):
        ip("netns", "add", name)
        self.created_namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def start_hub(self, last_octet):
        """Creates the hub namespace and its bridge; returns the hub's host."""
        self._add_namespace(self.hub_namespace)
        hub = VirtualHost(self, "r", self.address(last_octet))
        hub.device = self.bridge
        ip("-n", self.hub_namespace, "link", "add", self.bridge, "type", "bridge")
        ip("-n", self.hub_namespace, "addr", "add", f"{hub.address}/{self.prefix_length}", "dev", self.bridge)
        ip("-n", self.hub_namespace, "link", "set", self.bridge, "up")
        return hub

    def add_host(self, tag, last_octet):
        """Creates a host namespace joined to the bridge; returns its VirtualHost."""
        host = VirtualHost(self, tag, self.address(last_octet))
        self._add_namespace(host.namespace)
        self.hosts[tag] = host
        # Created inside the hub, far end straight into the host's namespace.
        ip("-n", self.hub_namespace, "link", "add", host.port, "type", "veth",
           "peer", "name", host.device, "netns", host.namespace)
        ip("-n", self.hub_namespace, "link", "set", host.port, "master", self.bridge, "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/{self.prefix_length}", "dev", host.device)
        ip("-n", host.namespace, "link", "set", host.device, "up")
        return host

    def track(self, process):
        """Records a started process so close() kills it."""
        self.processes.append(process)
        return process

    def leftovers(self):
        """Namespaces and root-namespace links named like this lab's that still exist."""
        names = [n for n in namespaces() if n.startswith(self.prefix)]
        names += [f"link {n}" for n in root_links() if n.startswith(self.prefix)]
        return names

    def close(self):
        """Kills every process started, deletes every link and namespace made."""
        if self.closed:
            return
        self.closed = True
        self._stop_processes()
        for name in self.created_namespaces:
            for pid in ip("netns", "pids", name, check=False).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        if self.hub_namespace in self.created_namespaces:
            for host in self.hosts.values():
                ip("-n", self.hub_namespace, "link", "del", host.port, check=False)
            ip("-n", self.hub_namespace, "link", "del", self.bridge, check=False)
        for name in reversed(self.created_namespaces):
            ip("netns", "del", name, check=False)

    def _stop_processes(self, grace=2.0):
        """SIGTERM, a moment's grace, then SIGKILL for every tracked process."""
        running = [p for p in self.processes if p.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + grace
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(5)
