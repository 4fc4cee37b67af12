"""A request the worker gave up on never reaches Redis later.

Redis runs in one network namespace (db), an ``opscore worker`` in another
(cl), joined by a bridge. The worker's connection is open when db's link goes
down; an update sent then times out and the worker answers with a failure.
The link comes back a moment later. With an ordinary close the kernel keeps
retransmitting what the worker wrote on that connection and delivers it once
the link is back, seconds after the worker reported the failure: when that is
an update's ``MULTI … EXEC`` and the server is an old primary back before the
sentinels demote it, it applies a change the new primary never sees. The
worker closes a connection it gave up on abortively, so none of it arrives.

Redis's ``INFO commandstats`` is the witness: whatever the update wrote
(its first read is an ``HGETALL``, of the layout's meta hash on a worker's
first write, else of the session under ``WATCH``) is counted if it ever runs.
A second update after the link is back shows the witness counts (one more
``WATCH``, one more ``EXEC``). Needs root and ``ip netns``; skipped otherwise. Every address
(10.215.0.0/24) exists only inside namespaces the test creates.
"""

import os
import subprocess
import time
from types import SimpleNamespace

import pytest

from support import netns
from support.layout import session_key
from support.multihost_clients import REDIS_PORT, OpsCoreHost, redis_client, redis_ping
from support.worker import OpsCoreWorker

UNAVAILABLE = netns.unavailable_reason()
pytestmark = [pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE)), pytest.mark.timeout(60)]

SUBNET = "10.215.0"
KEY_NAMESPACE = "givenup"
WITNESSED = ("watch", "hgetall", "time", "multi", "exec", "hset", "xadd")
# The worker's first send goes out with the link already down; the kernel retransmits
# 0.2, 0.6, 1.4, 3.0 and 6.2 s after it. The link is back after LINK_DOWN_FOR s, so
# without an abortive close one of those retransmissions arrives before WITNESS_UNTIL.
LINK_DOWN_FOR = 2.5
WITNESS_UNTIL = 8.0


@pytest.fixture
def lab():
    with netns.NetworkLab(prefix=f"gu{os.getpid()}", subnet=SUBNET) as network, netns.sigterm_raises_interrupt():
        network.start_hub(1)
        yield network


def command_calls():
    """Calls per command since Redis started, read over db's loopback (up while its link is down)."""
    with redis_client("127.0.0.1", None, timeout=5.0) as client:
        stats = client.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in WITNESSED}


def session_version(session_id):
    with redis_client("127.0.0.1", None, timeout=5.0) as client:
        return client.hget(session_key(KEY_NAMESPACE, session_id), "version")


def test_an_update_given_up_on_while_the_link_was_down_never_runs_once_it_is_back(lab, opscore_bin, tmp_path, figures):
    db, cl = lab.add_host("db", 11), lab.add_host("cl", 12)
    db.popen(["redis-server", "--bind", db.address, "127.0.0.1", "--port", str(REDIS_PORT),
              "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", str(tmp_path),
              "--logfile", str(tmp_path / "redis.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while cl.call(redis_ping, db.address, None) != "PONG":
        assert time.monotonic() < deadline, "redis-server did not answer on the bridge within 5 s"
        time.sleep(0.05)

    url = f"redis://{db.address}:{REDIS_PORT}/0?timeout=1&connect_timeout=1"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCORE_")}
    env.update(OPSCORE_REDIS_URL=url, OPSCORE_NAMESPACE=KEY_NAMESPACE)
    opscore = OpsCoreHost(opscore_bin, cl, env)
    assert opscore.run("agent", "register", "a1").returncode == 0
    session_id = opscore.json("session", "start", "--agent", "a1", "--workflow", "wf")["session_id"]

    # The worker runs on cl: the lab starts (and on close kills) it in that namespace.
    worker = OpsCoreWorker(SimpleNamespace(spawn=cl.popen), opscore_bin, url, str(tmp_path / "worker.err"),
                           concurrency=1, namespace=KEY_NAMESPACE)
    assert worker.call({"id": "get", "op": "get", "session_id": session_id})["ok"] is True  # its connection is open
    version = db.call(session_version, session_id)
    before = db.call(command_calls)

    db.set_link(False)
    cut = time.monotonic()
    lost = worker.call({"id": "lost", "op": "update", "session_id": session_id, "metadata": {"lost": True}})
    replied_after = time.monotonic() - cut
    assert lost is not None and lost["ok"] is False and lost["error"]["code"] in ("redis_timeout", "redis_unavailable"), lost
    time.sleep(max(0.0, cut + LINK_DOWN_FOR - time.monotonic()))
    db.set_link(True)
    while cl.call(redis_ping, db.address, None) != "PONG":
        assert time.monotonic() < cut + WITNESS_UNTIL, "the bridge did not carry traffic again"
        time.sleep(0.1)
    time.sleep(max(0.0, cut + WITNESS_UNTIL - time.monotonic()))

    after_link = db.call(command_calls)
    figures.record("given-up update", reply=lost["error"]["code"], reply_after_s=round(replied_after, 2),
                   link_down_s=LINK_DOWN_FOR, watched_until_s=WITNESS_UNTIL,
                   commands_run_later=sum(after_link[name] - before[name] for name in WITNESSED))
    assert after_link == before, (
        f"commands the worker gave up on ran after the link came back: before {before}, after {after_link}")
    assert db.call(session_version, session_id) == version

    after = worker.call({"id": "after", "op": "update", "session_id": session_id, "metadata": {"after": True}})
    assert after is not None and after["ok"] is True, after
    after_update = db.call(command_calls)
    assert after_update["watch"] == before["watch"] + 1 and after_update["exec"] == before["exec"] + 1, after_update
    assert int(db.call(session_version, session_id)) == int(version) + 1
    assert worker.finish() == 0
