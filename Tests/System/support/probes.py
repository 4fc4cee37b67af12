"""Polling the Redis processes of a deployment fixture (Sentinel or Cluster):
one quiet client per process, and the replication facts read through it."""

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def quietly(ask, default=None):
    """ask(), or default when the process does not answer."""
    try:
        return ask()
    except (redis.RedisError, OSError):
        return default


class ProbedProcesses:
    """Base of a deployment fixture: probe(process) is one redis-py client per
    process for polling (str replies, PROBE_TIMEOUT seconds, no retries, so a dead
    process fails the poll at once; it reconnects by itself after a restart)."""

    PROBE_TIMEOUT = 1.0

    def __init__(self):
        self._probes = {}

    def probe(self, process):
        if process not in self._probes:
            self._probes[process] = process.client(socket_timeout=self.PROBE_TIMEOUT, socket_connect_timeout=1.0,
                                                   decode_responses=True, retry=Retry(NoBackoff(), 0))
        return self._probes[process]

    def role(self, process):
        """ROLE's first word ("master", "slave"), or None when the process does not answer."""
        reply = quietly(lambda: self.probe(process).role())
        return reply[0] if reply else None

    def replicating_from(self, process):
        """The port `process` replicates from with its link up, else None."""
        info = quietly(lambda: self.probe(process).info("replication"), {})
        if info.get("role") == "slave" and info.get("master_link_status") == "up":
            return int(info["master_port"])
        return None
