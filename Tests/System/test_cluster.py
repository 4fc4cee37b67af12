"""Redis Cluster: with `--redis-url redis-cluster://seed,seed,…` opscore reads
the slot map, sends every command and transaction to the primary owning the
slot of its keys (each partition `{p}` is one slot), follows MOVED and ASK and
rides out a failover. Checked from outside with redis-py, node by node.

Deployments: a shared cluster (3 primaries, 1 replica each) for the one-shot
commands, a worker in all 16 partitions, the idle sweep and resharding under
load; a second one (3 primaries, 2 replicas each, so the promoted replica still
has one to confirm `--wait-replicas 1`) for the failover.

Mid-migration: with a session's slot MIGRATING/IMPORTING and its keys already
moved, worker and CLI get and update it (following ASK or waiting for the
migration's last step, 2 s later). Resharding under load (one scenario): three
workers send 600 paced updates each over 12 sessions while the slots of 4
partitions (every primary gives one and takes one) move step by step
(IMPORTING, MIGRATING, the keys two at a time, SETSLOT NODE), so opscore meets
ASK while a slot's keys are split and MOVED after: every update is answered
once and ok, nothing is lost, versions are gap-free. Failover (one scenario):
a `--wait-replicas 1` worker gets an update every 4 ms for 15 s over 4
sessions, two of them on the primary SIGKILLed 2 s in: one reply each, only
outage codes, every acknowledged update on the promoted replica, versions
gap-free, all ok 10 s after the kill; a new CLI process afterwards reads
every session.
"""

import collections
import json
import re
import subprocess
import threading
import time
import uuid

import pytest

from support.cli import opscore_argv
from support.cluster import ClusterDeployment
from support.keyspace import stream_events
from support.layout import (PARTITIONS, agent_index_key, agents_key, by_update_key, event_stream_key,
                            meta_key, partition, session_key)
from support.worker_replies import acknowledged, first_replies, reply_code

FAILOVER_CODES = ("redis_unavailable", "redis_timeout", "not_replicated")
UNKNOWN_OUTCOME = re.compile(r"may or may not", re.I)
LIVE = ("active", "paused")


def session_id_in(label):
    """A random session id in partition `label` (its first hex digit)."""
    return label + str(uuid.uuid4())[1:]


def start_sessions_in(worker, agent, labels, prefix):
    """Registers `agent` and starts one session per label (in that partition)
    through the worker; returns their ids."""
    reply = worker.call({"id": f"{prefix}-register", "op": "register_agent", "agent_id": agent})
    assert reply_code(reply) == "ok", reply
    ids = []
    for index, label in enumerate(labels):
        sid = session_id_in(label)
        reply = worker.call({"id": f"{prefix}-start-{index}", "op": "start", "agent_id": agent,
                             "workflow_id": "w", "session_id": sid})
        assert reply_code(reply) == "ok", reply
        ids.append(sid)
    return ids


def partition_keys(namespace, session_id, agent):
    """Every key one transaction on this session touches (layout 2)."""
    label = partition(session_id)
    return [session_key(namespace, session_id), agent_index_key(namespace, agent, label),
            by_update_key(namespace, label), event_stream_key(namespace, label), agents_key(namespace, label)]


def events_of(events, session_id):
    """The retained events of one session, oldest first (from stream_events)."""
    return [event for _, event in events[partition(session_id)] if event["session_id"] == session_id]


@pytest.fixture(scope="module")
def cluster(module_harness):
    """The shared cluster: 3 primaries with one replica each."""
    return ClusterDeployment(module_harness, name="shared")


# -- one-shot commands --------------------------------------------------------

CLI_NS, CLI_SESSIONS = "c-cli", 30


def owner_view(cluster, namespace):
    """{node port: sorted keys of `namespace`} read from each primary directly."""
    return {node.port: sorted(key.decode() for key in cluster.node_client(node).scan_iter(match=f"{namespace}:*",
                                                                                            count=1000))
            for node in cluster.primaries()}


def agents_sets(cluster, namespace):
    """{label: (owner port, members)} of the 16 agents sets, each read on its owner."""
    sets = {}
    for label in PARTITIONS:
        owner = cluster.owner_of_key(agents_key(namespace, label))
        sets[label] = (owner.port, {member.decode() for member in
                                    cluster.node_client(owner).smembers(agents_key(namespace, label))})
    return sets


@pytest.fixture(scope="module")
def cli_run(module_harness, cluster):
    """Every one-shot command once on the shared cluster; what it printed and
    what the primaries hold afterwards."""
    url = cluster.url()

    def cli(*args):
        return module_harness.opscore(url, *args, namespace=CLI_NS)

    run = {"init": cli("init", "--events-maxlen", "5000"), "register": cli("agent", "register", "c-agent", "c-other")}
    run["agents_after_register"] = agents_sets(cluster, CLI_NS)
    run["starts"] = [cli("session", "start", "--agent", "c-agent", "--workflow", f"w{i}", "--metadata",
                         json.dumps({"i": i})) for i in range(CLI_SESSIONS)]
    assert all(result.rc == 0 for result in run["starts"]), [r.brief() for r in run["starts"] if r.rc != 0]
    ids = run["ids"] = [result.json()["session_id"] for result in run["starts"]]
    run["updated"] = cli("session", "update", ids[0], "--status", "paused", "--metadata", '{"u":1}')
    run["got"] = cli("session", "get", ids[0])
    run["ended"] = cli("session", "end", ids[1], "--status", "failed")
    run["deleted"] = cli("session", "delete", ids[2])
    run["got_deleted"] = cli("session", "get", ids[2])
    run["removed"] = cli("agent", "remove", "c-other")
    run["agent_list"] = cli("agent", "list")
    run["listed"] = cli("session", "list", "--agent", "c-agent", "--limit", "100")
    run["removed_agent_start"] = cli("session", "start", "--agent", "c-other", "--workflow", "w")
    run["init_again"] = cli("init")
    run["agents_after_remove"] = agents_sets(cluster, CLI_NS)
    run["keys_by_node"] = owner_view(cluster, CLI_NS)
    client = cluster.client()
    run["stored"] = {sid: client.hgetall(session_key(CLI_NS, sid)) for sid in ids}
    run["events"] = stream_events(client, CLI_NS, ids)
    run["meta"] = client.hgetall(meta_key(CLI_NS))
    return run


def test_init_writes_the_meta_once(cli_run):
    assert cli_run["init"].rc == 0, cli_run["init"].brief()
    assert cli_run["init"].json() == {"layout": 2, "partitions": 16, "events_maxlen": 5000}
    assert cli_run["init_again"].rc == 0, cli_run["init_again"].brief()
    assert cli_run["init_again"].json()["events_maxlen"] == 5000, "a second init changed the meta"
    assert cli_run["meta"][b"layout"] == b"2" and cli_run["meta"][b"partitions"] == b"16"


def test_agent_register_and_remove_write_all_16_sets_on_their_three_owners(cli_run, cluster):
    """The 16 agents sets live on all three primaries; each one, read on the node
    owning its slot, holds the agent after register and not after remove."""
    assert cli_run["register"].rc == 0, cli_run["register"].brief()
    after_register = cli_run["agents_after_register"]
    assert len({port for port, _ in after_register.values()}) == 3, "the 16 sets are not spread over 3 primaries"
    assert {label: members for label, (_, members) in after_register.items()} == \
        {label: {"c-agent", "c-other"} for label in PARTITIONS}
    assert cli_run["removed"].rc == 0, cli_run["removed"].brief()
    assert {label: members for label, (_, members) in cli_run["agents_after_remove"].items()} == \
        {label: {"c-agent"} for label in PARTITIONS}
    assert cli_run["agent_list"].rc == 0, cli_run["agent_list"].brief()
    assert cli_run["agent_list"].json_lines() == [{"agent_id": "c-agent"}]
    refused = cli_run["removed_agent_start"]
    assert refused.rc == 1 and refused.error_text.startswith("error: "), refused.brief()


def test_session_get_update_end_list_delete(cli_run):
    ids = cli_run["ids"]
    assert len({partition(sid) for sid in ids}) >= 8, "30 random ids should cover most partitions"
    for result in (cli_run["updated"], cli_run["got"], cli_run["ended"], cli_run["deleted"], cli_run["listed"]):
        assert result.rc == 0, result.brief()
    updated, got = cli_run["updated"].json(), cli_run["got"].json()
    assert (updated["status"], updated["version"], updated["metadata"]) == ("paused", 2, {"i": 0, "u": 1})
    assert got == updated
    ended = cli_run["ended"].json()
    assert (ended["status"], ended["version"]) == ("failed", 2)
    assert cli_run["deleted"].json() == {"deleted": ids[2]}
    assert cli_run["got_deleted"].rc == 1, cli_run["got_deleted"].brief()
    listed = cli_run["listed"].json_lines()
    assert sorted(session["session_id"] for session in listed) == sorted(ids[:2] + ids[3:])
    starts = [session["start_time"] for session in listed]
    assert starts == sorted(starts, reverse=True), "session list is not newest first"


def test_every_key_is_on_the_primary_owning_its_partition_slot(cli_run, cluster):
    """Node by node, the namespace's keys are exactly what layout 2 says, each
    on the primary owning its slot, and the cluster client reads what the CLI printed."""
    ids, ns = cli_run["ids"], CLI_NS
    live = [sid for sid in ids if sid not in (ids[1], ids[2])]
    expected = {meta_key(ns)} | {agents_key(ns, label) for label in PARTITIONS}
    expected |= {session_key(ns, sid) for sid in ids if sid != ids[2]}
    expected |= {agent_index_key(ns, "c-agent", partition(sid)) for sid in ids if sid != ids[2]}
    expected |= {by_update_key(ns, partition(sid)) for sid in live}
    expected |= {event_stream_key(ns, partition(sid)) for sid in ids}
    found = {key: port for port, keys in cli_run["keys_by_node"].items() for key in keys}
    assert sorted(found) == sorted(expected)
    misplaced = {key: port for key, port in found.items() if cluster.owner_of_key(key).port != port}
    assert misplaced == {}
    for label in {partition(sid) for sid in ids}:
        owner = cluster.owner_of_slot(cluster.slot_of_partition(label))
        assert {key for key, port in found.items() if f"{{{label}}}" in key} <= set(cli_run["keys_by_node"][owner.port])
    for sid in ids[3:]:
        stored = cli_run["stored"][sid]
        started = next(result.json() for result in cli_run["starts"] if result.json()["session_id"] == sid)
        assert stored[b"version"] == b"1" and stored[b"status"] == b"active"
        assert json.loads(stored[b"metadata"]) == started["metadata"]
        assert [event["type"] for event in events_of(cli_run["events"], sid)] == ["session.started"]
    assert cli_run["stored"][ids[2]] == {}
    assert [event["type"] for event in events_of(cli_run["events"], ids[2])] == ["session.started",
                                                                                 "session.deleted"]


def test_a_transactions_keys_share_one_slot_on_one_node(cli_run, cluster):
    """For each session: its hash, its agent index, its partition's by_update,
    events and agents keys have one CLUSTER KEYSLOT, the slot of `{p}`, and the
    primary owning it holds them all."""
    for sid in cli_run["ids"][3:]:
        keys = partition_keys(CLI_NS, sid, "c-agent")
        slots = {cluster.slot_of(key) for key in keys}
        assert slots == {cluster.slot_of_partition(partition(sid))}, (sid, slots)
        owner = cluster.owner_of_slot(slots.pop())
        client = cluster.node_client(owner)
        assert [client.exists(key) for key in keys] == [1] * len(keys), (sid, owner)
        assert client.zscore(agent_index_key(CLI_NS, "c-agent", partition(sid)), sid) is not None
        assert client.zscore(by_update_key(CLI_NS, partition(sid)), sid) is not None


# -- a worker in every partition ----------------------------------------------

WORKER_NS = "c-worker"


def test_a_worker_starts_updates_ends_and_deletes_in_all_16_partitions(module_harness, cluster):
    """One session per partition (ids chosen so), started, updated twice and
    ended through one worker; each one's keys on its slot's owner."""
    worker = module_harness.start_worker(cluster.url(), "all-partitions", namespace=WORKER_NS)
    ids = start_sessions_in(worker, "w-agent", PARTITIONS, "all")
    codes = collections.Counter()
    for step in range(2):
        for index, sid in enumerate(ids):
            codes[reply_code(worker.call({"id": f"u{step}-{index}", "op": "update", "session_id": sid,
                                          "metadata": {"step": step}}))] += 1
    ended = [worker.call({"id": f"end-{index}", "op": "end", "session_id": sid}) for index, sid in enumerate(ids)]
    got = [worker.call({"id": f"get-{index}", "op": "get", "session_id": sid}) for index, sid in enumerate(ids)]
    deleted = worker.call({"id": "delete", "op": "delete", "session_id": ids[0]})
    rc = worker.finish()
    assert codes == {"ok": 32}, dict(codes)
    assert [reply_code(reply) for reply in ended + got + [deleted]] == ["ok"] * 33
    assert [(reply["session"]["status"], reply["session"]["version"]) for reply in got] == [("completed", 4)] * 16
    assert rc == 0
    owners = set()
    for sid in ids[1:]:
        label = partition(sid)
        owner = cluster.owner_of_slot(cluster.slot_of_partition(label))
        owners.add(owner.port)
        client = cluster.node_client(owner)
        assert client.hget(session_key(WORKER_NS, sid), "status") == b"completed"
        assert client.zscore(agent_index_key(WORKER_NS, "w-agent", label), sid) is not None
        assert client.zscore(by_update_key(WORKER_NS, label), sid) is None, "an ended session is still live"
        events = [json.loads(fields[b"event"]) for _, fields in client.xrange(event_stream_key(WORKER_NS, label))]
        assert [(event["type"], event["version"]) for event in events if event["session_id"] == sid] == \
            [("session.started", 1), ("session.updated", 2), ("session.updated", 3), ("session.ended", 4)]
    assert len(owners) == 3
    assert not cluster.client().exists(session_key(WORKER_NS, ids[0]))


def test_the_idle_sweep_expires_sessions_in_every_partition(module_harness, cluster, figures):
    """A worker with --expire-after sweeps the 16 partitions on their three
    owners: every idle session ends up expired, out of by_update, with its event."""
    worker = module_harness.start_worker(cluster.url(), "sweep", namespace="c-sweep",
                                         extra_args=("--expire-after", "1", "--sweep-interval", "0.2"))
    ids = start_sessions_in(worker, "sw-agent", PARTITIONS, "sweep")
    started = time.monotonic()
    client = cluster.client()
    deadline, statuses = started + 15, {}
    while time.monotonic() < deadline:
        statuses = {sid: client.hget(session_key("c-sweep", sid), "status") for sid in ids}
        if set(statuses.values()) == {b"expired"}:
            break
        time.sleep(0.1)
    figures.record("cluster sweep", all_16_expired_after_s=time.monotonic() - started)
    rc = worker.finish()
    assert {sid: status for sid, status in statuses.items() if status != b"expired"} == {}
    events = stream_events(client, "c-sweep", ids)
    for sid in ids:
        assert client.zscore(by_update_key("c-sweep", partition(sid)), sid) is None
        assert [event["type"] for event in events_of(events, sid)] == ["session.started", "session.expired"]
    assert rc == 0


# -- a slot mid-migration ------------------------------------------------------

MIG_NS, MIG_LABEL, MIG_HOLD = "c-migrating", "e", 2.0


def test_a_session_in_a_slot_mid_migration_is_read_and_updated(module_harness, cluster, figures):
    """The slot of the session's partition is MIGRATING on its owner and
    IMPORTING on another primary with every key already moved; the last step
    (SETSLOT NODE) comes MIG_HOLD seconds later. Meanwhile the owner answers ASK
    for the session's keys. A worker that knew the old owner and two CLI runs
    get and update the session at once: all succeed (by following ASK, or by
    waiting for the migration to end), and both updates are stored."""
    url = cluster.url()
    worker = module_harness.start_worker(url, "migrating", namespace=MIG_NS)
    (sid,) = start_sessions_in(worker, "m-agent", [MIG_LABEL], "mig")
    assert reply_code(worker.call({"id": "warm", "op": "get", "session_id": sid})) == "ok"
    slot = cluster.slot_of_partition(MIG_LABEL)
    source = cluster.owner_of_slot(slot)
    target = next(node for node in cluster.primaries() if node is not source)
    cluster.start_migration(slot, target)
    cluster.migrate_keys(slot, source, target)
    held_at = time.monotonic()
    finisher = threading.Timer(MIG_HOLD, cluster.finish_migration, args=(slot, source, target))
    finisher.start()
    cli = {}

    def run_cli(name, *args):
        cli[name] = (module_harness.opscore(url, *args, namespace=MIG_NS), time.monotonic() - held_at)

    threads = [threading.Thread(target=run_cli, args=("get", "session", "get", sid)),
               threading.Thread(target=run_cli, args=("update", "session", "update", sid, "--metadata", '{"cli":1}'))]
    worker.send({"id": "get", "op": "get", "session_id": sid})
    worker.send({"id": "update", "op": "update", "session_id": sid, "metadata": {"worker": 1}})
    for thread in threads:
        thread.start()
    replies = {key: worker.wait_reply(key, timeout=20) for key in ("get", "update")}
    for thread in threads:
        thread.join(timeout=30)
    finisher.join(timeout=30)
    answered = {f"worker {key}": worker.latency(key) for key in replies}
    answered.update({f"cli {name}": elapsed for name, (_, elapsed) in cli.items()})
    figures.record("cluster mid-migration", hold_s=MIG_HOLD,
                   **{name.replace(" ", "_") + "_s": seconds for name, seconds in answered.items()})
    outcomes = {f"worker {key}": reply_code(reply) if reply_code(reply) == "ok" else reply
                for key, reply in replies.items()}
    outcomes.update({f"cli {name}": "ok" if result.rc == 0 else result.brief() for name, (result, _) in cli.items()})
    assert outcomes == dict.fromkeys(("worker get", "worker update", "cli get", "cli update"), "ok")
    assert cluster.owner_of_slot(slot) is target
    stored = cluster.node_client(target).hgetall(session_key(MIG_NS, sid))
    assert (stored[b"version"], json.loads(stored[b"metadata"])) == (b"3", {"cli": 1, "worker": 1})
    assert worker.finish() == 0


# -- resharding under load ----------------------------------------------------

RS_NS, RS_WORKERS, RS_REQUESTS, RS_PACE = "c-reshard", 3, 600, 0.01
RS_MOVE_START = 0.3
RS_MOVE = {"pause": 0.25, "batch": 2, "key_pause": 0.08}


def plan_moves(cluster):
    """Four partitions to move, [(label, source, target)]: one from each primary
    to the next one, and a second one from the first primary."""
    primaries = cluster.primaries()
    labels_of = {node: [label for label in PARTITIONS
                        if cluster.owner_of_slot(cluster.slot_of_partition(label)) is node] for node in primaries}
    moves = []
    for index in range(4):
        source = primaries[index % 3]
        moves.append((labels_of[source][index // 3], source, primaries[(index + 1) % 3]))
    return moves


def paced_updates(worker, index, sessions, start):
    """RS_REQUESTS updates, one every RS_PACE seconds; update n of worker w sets
    metadata {"w<w>": n} on session (n + 5w) mod 12."""
    try:
        for n in range(RS_REQUESTS):
            delay = start + n * RS_PACE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            worker.send({"id": f"{index}-{n}", "op": "update", "session_id": sessions[(n + 5 * index) % len(sessions)],
                         "metadata": {f"w{index}": n}})
    except (OSError, ValueError):
        pass    # the worker is gone: the missing replies show it


@pytest.fixture(scope="module")
def reshard(module_harness, cluster, figures):
    """Moves 4 partitions' slots step by step while three workers update 12
    sessions (two in each moved partition, one in each of 4 others)."""
    moves = plan_moves(cluster)
    moved = [label for label, _, _ in moves]
    kept = [label for label in PARTITIONS if label not in moved][:4]
    url = cluster.url()
    setup = module_harness.start_worker(url, "reshard-setup", namespace=RS_NS)
    sessions = start_sessions_in(setup, "rs-agent", moved + moved + kept, "setup")
    assert setup.finish() == 0
    workers = [module_harness.start_worker(url, f"reshard{index}", namespace=RS_NS, concurrency=4)
               for index in range(RS_WORKERS)]
    redirections_before = cluster.redirections()
    t0 = time.monotonic() + 0.2
    generators = [threading.Thread(target=paced_updates, args=(worker, index, sessions, t0), daemon=True)
                  for index, worker in enumerate(workers)]
    for generator in generators:
        generator.start()
    time.sleep(max(0.0, t0 + RS_MOVE_START - time.monotonic()))
    move_seconds = [cluster.move_slot(cluster.slot_of_partition(label), target, **RS_MOVE)
                    for label, _, target in moves]
    moves_done = time.monotonic() - t0
    for generator in generators:
        generator.join(timeout=RS_REQUESTS * RS_PACE + 30)
    for worker in workers:
        worker.wait_count(RS_REQUESTS, timeout=30)
    run = {"moves": moves, "sessions": sessions, "workers": workers,
           "generators_done": all(not generator.is_alive() for generator in generators),
           "rcs": [worker.finish(timeout=30) for worker in workers],
           "owners": {label: cluster.owner_of_slot(cluster.slot_of_partition(label)) for label in moved}}
    after = cluster.redirections()
    run["redirections"] = {name: after[name] - redirections_before[name] for name in after}
    client = cluster.client()
    run["stored"] = {sid: client.hgetall(session_key(RS_NS, sid)) for sid in sessions}
    run["events"] = stream_events(client, RS_NS, sessions)
    replies = run["replies"] = {}
    for index, worker in enumerate(workers):
        for n in range(RS_REQUESTS):
            replies[(index, n)] = [obj for _, obj in worker.replies.get(f"{index}-{n}", [])]
    latencies = sorted(latency for index, worker in enumerate(workers) for n in range(RS_REQUESTS)
                       if (latency := worker.latency(f"{index}-{n}")) is not None)
    figures.record("cluster reshard", updates=RS_WORKERS * RS_REQUESTS, slots_moved=len(moves),
                   move_s="/".join(f"{seconds:.2f}" for seconds in move_seconds), moves_done_at_s=moves_done,
                   load_s=RS_REQUESTS * RS_PACE, **{name.lower(): count for name, count in run["redirections"].items()},
                   p50_ms=1000 * latencies[len(latencies) // 2] if latencies else "none",
                   max_ms=1000 * latencies[-1] if latencies else "none",
                   codes=dict(collections.Counter(reply_code(got[0]) if got else None for got in replies.values())))
    return run


def reshard_acks(run, session_id):
    """[(worker index, n, acknowledged session)] of one session."""
    index_of = run["sessions"].index(session_id)
    return [(worker, n, got[0]["session"]) for (worker, n), got in run["replies"].items()
            if got and reply_code(got[0]) == "ok" and (n + 5 * worker) % len(run["sessions"]) == index_of]


def test_reshard_every_update_gets_exactly_one_reply_and_succeeds(reshard):
    assert reshard["generators_done"] and reshard["rcs"] == [0] * RS_WORKERS, reshard["rcs"]
    replies = reshard["replies"]
    assert [key for key, got in replies.items() if len(got) != 1] == [], "updates without one reply"
    failed = {f"{worker}-{n}": got[0].get("error") for (worker, n), got in replies.items()
              if got and reply_code(got[0]) != "ok"}
    assert failed == {}
    assert all(worker.bad_lines == [] for worker in reshard["workers"])


def test_reshard_moved_the_slots_under_the_workers_feet(reshard):
    """The four partitions are on their targets now, and the nodes sent clients
    ASK (keys split mid-migration) and MOVED (after the switch) meanwhile."""
    assert {label: node.port for label, node in reshard["owners"].items()} == \
        {label: target.port for label, _, target in reshard["moves"]}
    assert reshard["redirections"]["ASK"] > 0, reshard["redirections"]
    assert reshard["redirections"]["MOVED"] > 0, reshard["redirections"]


@pytest.mark.parametrize("index", range(12))
def test_reshard_loses_nothing(reshard, index):
    """Final version = 1 + acknowledged updates; each worker's last acknowledged
    metadata value is stored; every ack is an event of the partition stream."""
    sid = reshard["sessions"][index]
    acks = reshard_acks(reshard, sid)
    stored = reshard["stored"][sid]
    assert int(stored[b"version"]) == 1 + len(acks)
    versions = [session["version"] for _, _, session in acks]
    assert len(set(versions)) == len(versions), "two acks report the same version"
    last_per_worker = {}
    for worker, n, session in sorted(acks, key=lambda ack: ack[2]["version"]):
        last_per_worker[f"w{worker}"] = n
    assert json.loads(stored[b"metadata"]) == last_per_worker
    retained = {(event["version"], event["at"]) for event in events_of(reshard["events"], sid)}
    missing = [(session["version"], session["last_updated_time"]) for _, _, session in acks
               if (session["version"], session["last_updated_time"]) not in retained]
    assert missing == []


@pytest.mark.parametrize("index", range(12))
def test_reshard_versions_are_gap_free(reshard, index):
    sid = reshard["sessions"][index]
    version = int(reshard["stored"][sid][b"version"])
    assert [event["version"] for event in events_of(reshard["events"], sid)] == list(range(1, version + 1))


def test_one_shot_commands_find_sessions_in_moved_slots(reshard, cli_run, cluster, module_harness):
    """After the moves the CLI (a fresh process: it learns the new map) reads,
    lists and updates sessions of the moved partitions on their new owners."""
    url = cluster.url()
    moved = {label for label, _, _ in reshard["moves"]}
    listed = module_harness.opscore(url, "session", "list", "--agent", "c-agent", namespace=CLI_NS)
    assert listed.rc == 0, listed.brief()
    assert len(listed.json_lines()) == CLI_SESSIONS - 1
    targets = [(CLI_NS, sid) for sid in cli_run["ids"][3:] if partition(sid) in moved]
    targets += [(RS_NS, sid) for sid in reshard["sessions"] if partition(sid) in moved]
    for namespace, sid in targets:
        before = module_harness.opscore(url, "session", "get", sid, namespace=namespace)
        assert before.rc == 0, before.brief()
        updated = module_harness.opscore(url, "session", "update", sid, "--metadata", '{"after":"reshard"}',
                                         namespace=namespace)
        assert updated.rc == 0, updated.brief()
        assert updated.json()["version"] == before.json()["version"] + 1
        owner = reshard["owners"][partition(sid)]
        stored = cluster.node_client(owner).hget(session_key(namespace, sid), "version")
        assert stored == str(updated.json()["version"]).encode(), (namespace, sid, owner)


# -- failover -----------------------------------------------------------------

FO_NS = "c-failover"
FO_PACE, FO_DURATION, FO_KILL_AT, FO_SESSIONS = 0.004, 15.0, 2.0, 4
FO_TOTAL = round(FO_DURATION / FO_PACE)
SETTLED_AFTER = 10.0


def paced_failover_updates(worker, sessions, start):
    """FO_TOTAL updates, one every FO_PACE seconds; update n sets metadata n."""
    try:
        for n in range(FO_TOTAL):
            delay = start + n * FO_PACE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            worker.send({"id": str(n), "op": "update", "session_id": sessions[n % FO_SESSIONS], "metadata": {"n": n}})
    except (OSError, ValueError):
        pass


@pytest.fixture(scope="module")
def failover(module_harness, figures):
    """Kills the primary of two of four sessions' partitions under a
    `--wait-replicas 1` worker; returns the replies and what the cluster holds."""
    deployment = ClusterDeployment(module_harness, replicas=2, name="failover")
    primaries = deployment.primaries()
    victim = primaries[1]
    labels_on = {node: [label for label in PARTITIONS
                        if deployment.owner_of_slot(deployment.slot_of_partition(label)) is node] for node in primaries}
    labels = labels_on[victim][:2] + [labels_on[primaries[0]][0], labels_on[primaries[2]][0]]
    url = deployment.url()
    worker = module_harness.start_worker(url, "failover", namespace=FO_NS, concurrency=4,
                                         extra_args=("--wait-replicas", "1"))
    sessions = start_sessions_in(worker, "fo-agent", labels, "setup")
    t0 = time.monotonic()
    generator = threading.Thread(target=paced_failover_updates, args=(worker, sessions, t0), daemon=True)
    generator.start()
    time.sleep(max(0.0, t0 + FO_KILL_AT - time.monotonic()))
    killed_at = deployment.kill_primary(victim)
    new_primary, promotion_s = deployment.wait_for_failover(victim)
    generator.join(timeout=FO_DURATION + 30)
    worker.wait_count(FO_TOTAL + 1 + FO_SESSIONS, timeout=20)
    run = {"sessions": sessions, "worker": worker, "killed_at": killed_at, "victim": victim, "new": new_primary,
           "generator_done": not generator.is_alive(), "rc": worker.finish(timeout=30),
           "owners": {label: deployment.owner_of_slot(deployment.slot_of_partition(label)) for label in labels},
           "replica_of_new": [deployment.replicating_from(node) for node in deployment.replicas_of(new_primary)]}
    client = deployment.client()
    run["stored"] = {sid: client.hgetall(session_key(FO_NS, sid)) for sid in sessions}
    run["events"] = stream_events(client, FO_NS, sessions)
    run["replies"] = {str(n): [obj for _, obj in worker.replies.get(str(n), [])] for n in range(FO_TOTAL)}
    run["cli_after"] = {sid: module_harness.opscore(url, "session", "get", sid, namespace=FO_NS) for sid in sessions}
    record_failover(figures, run, promotion_s)
    return run


def record_failover(figures, run, promotion_s):
    killed_at, worker = run["killed_at"], run["worker"]
    firsts = first_replies(run)
    codes = collections.Counter(reply_code(reply) for _, _, reply in firsts)
    on_victim = [(n, sent, reply) for n, sent, reply in firsts if n % FO_SESSIONS < 2]
    ok_after = [worker.replies[str(n)][0][0] - killed_at for n, sent, reply in on_victim
                if sent >= killed_at and reply_code(reply) == "ok"]
    failed_at = [sent - killed_at for _, sent, reply in firsts if reply_code(reply) != "ok"]
    victim_latency = max((worker.latency(str(n)) for n, _, _ in on_victim), default=0.0)
    unknown = sum(1 for _, _, reply in firsts
                  if UNKNOWN_OUTCOME.search((reply.get("error") or {}).get("message", "")))
    figures.record("cluster failover", updates=FO_TOTAL, kill_at_s=FO_KILL_AT, promotion_settled_s=promotion_s,
                   first_success_on_promoted_after_kill_s=min(ok_after) if ok_after else "none",
                   failed=sum(count for code, count in codes.items() if code != "ok"),
                   failed_other_primaries=sum(1 for n, _, reply in firsts
                                              if n % FO_SESSIONS >= 2 and reply_code(reply) != "ok"),
                   codes=dict(codes), unknown_outcome=unknown, max_latency_promoted_s=victim_latency,
                   failed_window_s=f"{min(failed_at):.2f}-{max(failed_at):.2f}" if failed_at else "-",
                   final_versions="/".join(run["stored"][sid].get(b"version", b"?").decode()
                                           for sid in run["sessions"]))


def test_failover_the_promoted_replica_owns_the_slots_and_has_a_replica(failover):
    victim, new = failover["victim"], failover["new"]
    labels = [partition(sid) for sid in failover["sessions"]]
    assert [failover["owners"][label].port for label in labels[:2]] == [new.port, new.port]
    assert victim.port not in {node.port for node in failover["owners"].values()}
    assert failover["replica_of_new"] == [new.port]


def test_failover_worker_reads_every_update_and_exits_0(failover):
    assert failover["generator_done"], "the generator did not finish (worker not reading?)"
    assert failover["rc"] == 0


def test_failover_every_update_gets_exactly_one_reply(failover):
    replies = failover["replies"]
    assert sorted((n for n, got in replies.items() if not got), key=int) == [], "updates without a reply"
    assert sorted((n for n, got in replies.items() if len(got) > 1), key=int) == [], "updates with two replies"
    assert failover["worker"].bad_lines == []


def test_failover_costs_updates_only_outage_or_not_replicated_errors(failover):
    """Updates in flight or sent during the outage fail with redis_unavailable,
    redis_timeout or not_replicated (or wait for the promotion), nothing else."""
    codes = collections.Counter(reply_code(reply) for _, _, reply in first_replies(failover))
    assert set(codes) - {"ok", *FAILOVER_CODES} == set(), dict(codes)


def test_failover_every_update_sent_10_s_after_the_kill_succeeds(failover):
    late = [(n, reply_code(reply)) for n, sent, reply in first_replies(failover)
            if sent - failover["killed_at"] >= SETTLED_AFTER]
    assert late, "no update was sent 10 s after the kill"
    assert [(n, code) for n, code in late if code != "ok"] == []


@pytest.mark.parametrize("index", range(FO_SESSIONS))
def test_failover_acknowledged_updates_are_on_the_owner_with_their_events(failover, index):
    """Each ok reply's (version, last_updated_time) is a retained event; the
    stored session is the last acknowledged update's, or a later one whose
    reply said it may have committed (not_replicated or unknown outcome)."""
    sid = failover["sessions"][index]
    acked = acknowledged(failover, sid)
    assert acked, "no update of this session was acknowledged"
    retained = {(event["version"], event["at"]) for event in events_of(failover["events"], sid)}
    missing = [(session["version"], session["last_updated_time"]) for session in acked
               if (session["version"], session["last_updated_time"]) not in retained]
    assert missing == [], f"{len(missing)} acknowledged updates missing"
    stored = failover["stored"][sid]
    last = max(acked, key=lambda session: session["version"])
    maybe = [n for n, _, reply in first_replies(failover) if n % FO_SESSIONS == index
             and (reply_code(reply) == "not_replicated"
                  or UNKNOWN_OUTCOME.search((reply.get("error") or {}).get("message", "")))]
    extra = int(stored[b"version"]) - last["version"]
    assert 0 <= extra <= len(maybe), (extra, maybe)
    if extra == 0:
        assert json.loads(stored[b"metadata"]) == last["metadata"]
    else:
        assert json.loads(stored[b"metadata"])["n"] in maybe


@pytest.mark.parametrize("index", range(FO_SESSIONS))
def test_failover_versions_are_gap_free(failover, index):
    sid = failover["sessions"][index]
    version = int(failover["stored"][sid][b"version"])
    events = events_of(failover["events"], sid)
    assert [event["version"] for event in events] == list(range(1, version + 1))
    acked_versions = [session["version"] for session in acknowledged(failover, sid)]
    assert len(set(acked_versions)) == len(acked_versions), "two acks report the same version"
    assert version - 1 >= len(acked_versions)


def test_failover_one_shot_commands_afterwards_read_the_promoted_replica(failover):
    """A new process seeded with every node (the dead one too) reads each
    session as the cluster holds it."""
    for sid, result in failover["cli_after"].items():
        assert result.rc == 0, result.brief()
        assert result.json()["version"] == int(failover["stored"][sid][b"version"])


# -- watch ----------------------------------------------------------------------

def update_every_session(worker, ids, steps, prefix, before_step=None):
    """`steps` rounds of one ok update per session through the worker (running
    `before_step[step]()` first where given), then the worker's end of input."""
    for step in range(steps):
        (before_step or {}).get(step, lambda: None)()
        for index, sid in enumerate(ids):
            reply = worker.call({"id": f"{prefix}-{step}-{index}", "op": "update", "session_id": sid, "metadata": {"step": step}})
            assert reply_code(reply) == "ok", reply
    assert worker.finish() == 0


def retained_versions(cluster, namespace, ids):
    """(session_id, version) of every event the 16 streams hold for these sessions."""
    retained = stream_events(cluster.client(), namespace, ids)
    return {(event["session_id"], event["version"]) for label in PARTITIONS for _, event in retained[label]}


def test_watch_prints_every_event_of_the_16_partitions_exactly_once_across_a_slot_move(module_harness, cluster, figures):
    namespace = "c-watch"
    url = cluster.url()
    watcher = module_harness.start_watcher(url, "cluster-watch", namespace=namespace, extra_args=("--since", "beginning"))
    assert watcher.wait_subscribed(), watcher.stderr_text()
    worker = module_harness.start_worker(url, "cluster-watch-worker", namespace=namespace)
    ids = start_sessions_in(worker, "w-agent", PARTITIONS, "cw")
    moved_label = ids[5][0]
    def move_one_partition():
        # One partition's slot moves to another primary while the watch reads it.
        slot = cluster.slot_of_partition(moved_label)
        owner = cluster.owner_of_slot(slot)
        cluster.move_slot(slot, next(node for node in cluster.primaries() if node.port != owner.port))

    update_every_session(worker, ids, steps=6, prefix="cw", before_step={3: move_one_partition})
    expected = retained_versions(cluster, namespace, ids)
    assert len(expected) == 16 * 7      # a start and 6 updates per session
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with watcher.cond:
            printed = [(e.get("session_id"), e.get("version")) for e in watcher.events if "session_id" in e]
        if set(printed) >= expected:
            break
        time.sleep(0.1)
    assert watcher.stop() == 0
    with watcher.cond:
        printed = [(e.get("session_id"), e.get("version")) for e in watcher.events if "session_id" in e]
    figures.record("cluster watch", printed=len(printed), retained=len(expected), moved_partition=moved_label)
    assert len(printed) == len(set(printed)), "an event was printed twice"
    assert set(printed) == expected
    for sid in ids:
        versions = [version for printed_sid, version in printed if printed_sid == sid]
        assert versions == sorted(versions), f"{sid}: versions out of order {versions}"


# -- consume --------------------------------------------------------------------

def test_two_consumers_of_one_group_handle_every_event_of_the_16_partitions(module_harness, cluster, figures):
    namespace = "c-consume"
    url = cluster.url()
    worker = module_harness.start_worker(url, "cluster-consume-worker", namespace=namespace)
    ids = start_sessions_in(worker, "k-agent", PARTITIONS, "ck")
    handled = module_harness.directory / "cluster-handled.jsonl"
    command = f"cat >> {handled}; echo >> {handled}"
    consumers = []
    for name in ("k1", "k2"):
        argv = opscore_argv(module_harness.binary, url, namespace) + [
            "consume", "--group", "cluster-group", "--consumer", name, "--from", "beginning", "--exec", command]
        with open(module_harness.directory / f"cluster-{name}.err", "wb") as err:
            consumers.append(module_harness.children.spawn(argv, stdout=subprocess.DEVNULL, stderr=err))
    update_every_session(worker, ids, steps=4, prefix="ck")
    expected = retained_versions(cluster, namespace, ids)
    assert len(expected) == 16 * 5

    def seen():
        if not handled.exists():
            return set()
        return {(e["session_id"], e["version"]) for e in map(json.loads, filter(None, handled.read_text().splitlines()))}

    deadline = time.monotonic() + 20
    while seen() < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    for consumer in consumers:
        consumer.terminate()
        assert consumer.wait(timeout=15) == 0
    client = cluster.client()
    pending = sum(client.xpending(event_stream_key(namespace, label), "cluster-group")["pending"] for label in PARTITIONS)
    figures.record("cluster consume", handled=len(seen()), retained=len(expected), pending=pending)
    assert seen() == expected
    assert pending == 0


# -- doctor ---------------------------------------------------------------------

def test_doctor_on_the_cluster_names_each_partitions_primary_and_checks_every_primary(module_harness, cluster):
    namespace = "c-doctor"
    url = cluster.url()
    result = module_harness.opscore(url, "agent", "register", "d-agent", namespace=namespace)
    assert result.rc == 0, result.brief()
    result = module_harness.opscore(url, "doctor", namespace=namespace)
    checks = {line["check"]: line for line in result.json_lines()}
    assert result.rc == 0, result.text
    topology = checks["topology"]
    assert topology["status"] == "ok", topology
    for primary in cluster.primaries():
        assert f"127.0.0.1:{primary.port} with" in topology["detail"]
    for label in PARTITIONS:
        owner = cluster.owner_of_slot(cluster.slot_of_partition(label))
        assert f"{{{label}}} slot {cluster.slot_of_partition(label)} on 127.0.0.1:{owner.port}" in topology["detail"]
    assert checks["agents"]["status"] == "ok" and "1 agent registered in all 16 partitions" in checks["agents"]["detail"]
    # One primary evicting is enough to fail, and the line names it.
    evicting = cluster.primaries()[1]
    cluster.node_client(evicting).config_set("maxmemory-policy", "allkeys-lru")
    try:
        result = module_harness.opscore(url, "doctor", namespace=namespace)
    finally:
        cluster.node_client(evicting).config_set("maxmemory-policy", "noeviction")
    checks = {line["check"]: line for line in result.json_lines()}
    assert result.rc == 1
    assert checks["maxmemory_policy"]["status"] == "fail"
    assert f"127.0.0.1:{evicting.port} fail: maxmemory-policy is allkeys-lru" in checks["maxmemory_policy"]["detail"]


# -- refusals -------------------------------------------------------------------

def test_a_user_refused_cluster_slots_exits_77_and_writes_nothing(module_harness, cluster):
    """The slot map cannot be read: permission denied (77), not an outage (69)."""
    namespace, user, secret = "c-noperm", "no-slots", "pw-no-slots"
    for node in cluster.nodes:
        cluster.node_client(node).acl_setuser(user, enabled=True, passwords=[f"+{secret}"], keys=["*"],
                                              channels=["*"], commands=["+@all", "-cluster"])
    try:
        result = module_harness.opscore(cluster.url(user=user, password=secret), "agent", "register", "a",
                                        namespace=namespace)
    finally:
        for node in cluster.nodes:
            cluster.node_client(node).acl_deluser(user)
    assert result.rc == 77, result.brief()
    assert result.out == b"" and len(result.error_text.splitlines()) == 1, result.brief()
    assert "permission" in result.error_text.lower(), result.error_text
    assert secret not in result.error_text
    assert not any(cluster.node_client(node).keys(f"{namespace}:*") for node in cluster.primaries())
