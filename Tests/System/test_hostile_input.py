"""Hostile input: ids with spaces, `*`, `{}`, `:`, quotes and non-ASCII are
stored and read back exactly and never touch another key; control characters
in ids, metadata over 64 KiB, nesting deeper than 64 levels, non-object
metadata and invalid namespaces are refused with exit 64 (worker:
invalid_input), changing nothing in Redis.
"""

import json
import re

import pytest

from support.keyspace import changed_keys, scan_keys, snapshot
from support.layout import (PARTITIONS, agent_index_key, agents_key, by_update_key, event_stream_key,
                            meta_key, partition, session_key)

HOSTILE_IDS = [
    "agent with spaces", "star*", "*", "{braces}", "{}", "colon:agent:x", ":", "x:sessions",
    'quote"s\'', "back\\slash", "opscore:agents", "opscore:session:00000000-0000-4000-8000-000000000000",
    "opscore:*", "über", "日本", "🚀 emoji 👩‍💻", "?[ab]", "%s %n", "a" * 256,
]
CONTROL_IDS = ["a\r\nb", "tab\there", "nul\u0000x", "del\u007f", "nel\u0085x", "line\nfeed"]
METADATA = {"k\r\n": "v\u0000\u2028", "日本": "🚀", "nested": {"a": [1, 2.5, None, True, "x"]}, "*": {}}
BAD_METADATA = {
    "over 64 KiB": json.dumps({"big": "x" * 70000}),
    "65 levels of objects": '{"a":' * 65 + "1" + "}" * 65,
    "65 levels (arrays)": '{"a":' + "[" * 64 + "]" * 64 + "}",
    "10000 levels": "[" * 10000 + "]" * 10000,
    "[1]": "[1]", '"x"': '"x"', "3": "3", "null": "null", "not JSON": '{"a":',
}
INVALID_NAMESPACES = {"colon": "a:b", "space": "sp ace", "star": "ns*", "braces": "{ns}", "non-ascii": "über",
                      "65 characters": "x" * 65, "slash": "a/b"}
VALID_NAMESPACE = ("Az09_.-" * 10)[:64]     # every allowed character class, 64 long
UUID_RE = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def start_everywhere(harness, url, worker, sessions, index, ident):
    """Registers ident and starts a session for it via the worker (and the CLI,
    unless ident looks like an option); returns the problems seen."""
    workflow = HOSTILE_IDS[(index + 3) % len(HOSTILE_IDS)]
    # Alternate \\u escapes and raw UTF-8 on the wire.
    reply = worker.call({"id": f"r{index}", "op": "register_agent", "agent_id": ident}, ensure_ascii=index % 2 == 0)
    if not (reply and reply.get("ok")):
        return [f"register {ident!r}: {reply}"]
    reply = worker.call({"id": f"s{index}", "op": "start", "agent_id": ident, "workflow_id": workflow,
                         "metadata": METADATA}, ensure_ascii=index % 2 == 1)
    session = (reply or {}).get("session") or {}
    if (session.get("agent_id"), session.get("workflow_id"), session.get("metadata")) != (ident, workflow, METADATA):
        return [f"worker start {ident!r}: {reply}"]
    sessions[session["session_id"]] = (ident, workflow, METADATA)
    if ident.startswith("-"):
        return []
    cli = harness.opscore(url, "session", "start", "--agent", ident, "--workflow", workflow)
    if cli.rc != 0 or (cli.json().get("agent_id"), cli.json().get("workflow_id")) != (ident, workflow):
        return [f"CLI start {ident!r}: {cli.brief()} {cli.text[:200]!r}"]
    sessions[cli.json()["session_id"]] = (ident, workflow, {})
    return []


@pytest.fixture(scope="module")
def store(module_harness, figures):
    """A Redis holding sessions of every awkward id, started via worker and CLI."""
    server = module_harness.start_redis(name="hostile")
    worker = module_harness.start_worker(server.url, "hostile", concurrency=2)
    run = {"server": server, "url": server.url, "sessions": {}, "problems": [], "worker_gets": {}}
    for index, ident in enumerate(HOSTILE_IDS):
        run["problems"] += start_everywhere(module_harness, server.url, worker, run["sessions"], index, ident)
    for sid in run["sessions"]:
        reply = worker.call({"id": f"g{sid}", "op": "get", "session_id": sid}) or {}
        run["worker_gets"][sid] = reply.get("session") or reply
    run["worker_rc"] = worker.finish()
    run["keys"] = scan_keys(server.client())
    figures.record("hostile_input", ids=len(HOSTILE_IDS), sessions=len(run["sessions"]), keys=len(run["keys"]))
    return run


def test_awkward_ids_are_accepted_by_worker_and_cli(store):
    """Every awkward id registers and starts sessions through worker and CLI,
    with ids and metadata echoed back exactly."""
    assert store["problems"] == []
    cli_starts = sum(not ident.startswith("-") for ident in HOSTILE_IDS)
    assert len(store["sessions"]) == len(HOSTILE_IDS) + cli_starts
    assert store["worker_rc"] == 0


def test_cli_get_reads_every_session_back_exactly(module_harness, store):
    """`session get` returns agent, workflow and metadata byte for byte."""
    wrong = {}
    for sid, expected in store["sessions"].items():
        got = module_harness.session_get(store["url"], sid)
        if (got["agent_id"], got["workflow_id"], got["metadata"]) != expected:
            wrong[sid] = got
    assert wrong == {}


def test_worker_get_reads_every_session_back_exactly(store):
    """The worker's get returns agent and workflow byte for byte."""
    wrong = {sid: got for sid, got in store["worker_gets"].items()
             if (got.get("agent_id"), got.get("workflow_id")) != store["sessions"][sid][:2]}
    assert wrong == {}


def test_session_list_finds_exactly_each_agents_sessions(module_harness, store, figures):
    """`session list --agent ID` shows that agent's sessions and no other (no glob, no prefix match)."""
    mismatched = {}
    for ident in HOSTILE_IDS:
        mine = {sid for sid, value in store["sessions"].items() if value[0] == ident}
        result = module_harness.opscore(store["url"], "session", "list", "--agent", ident)
        found = {o["session_id"] for o in result.json_lines()} if result.rc == 0 else result.brief()
        if found != mine:
            mismatched[ident] = (found, mine)
    figures.record("hostile_input", lists_matched=len(HOSTILE_IDS) - len(mismatched))
    assert mismatched == {}


def test_agent_list_is_exactly_the_awkward_ids(module_harness, store):
    """`agent list` shows every registered id once, verbatim."""
    listed = module_harness.opscore(store["url"], "agent", "list")
    assert listed.rc == 0, listed.brief()
    assert sorted(o["agent_id"] for o in listed.json_lines()) == sorted(HOSTILE_IDS)


def test_keys_are_only_of_the_documented_forms(store):
    """meta; per partition {p}: agents, by_update, events, agent:<id>:sessions
    (id verbatim) and session:<uuid>, each in the partition of its session."""
    expected = {meta_key("opscore").encode()}
    expected |= {agents_key("opscore", label).encode() for label in PARTITIONS}
    for sid, (ident, *_rest) in store["sessions"].items():
        label = partition(sid)
        expected |= {session_key("opscore", sid).encode(), by_update_key("opscore", label).encode(),
                     event_stream_key("opscore", label).encode(),
                     agent_index_key("opscore", ident, label).encode()}
    assert sorted(store["keys"]) == sorted(expected)
    for key in store["keys"]:
        if re.match(rb"^opscore:\{.\}:session:", key):
            sid = key.split(b":session:", 1)[1]
            assert UUID_RE.match(sid) and key.startswith(f"opscore:{{{sid[:1].decode()}}}:".encode()), key


@pytest.fixture(scope="module")
def control_refusals(module_harness, store):
    """Worker requests with control characters in ids, each with the keyspace
    before and after: (ident, op) -> (reply, changed keys)."""
    client = store["server"].client()
    worker = module_harness.start_worker(store["url"], "control", concurrency=2)
    outcomes = {}
    for index, ident in enumerate(CONTROL_IDS):
        for name, request in (("register_agent", {"op": "register_agent", "agent_id": ident}),
                              ("start (workflow)", {"op": "start", "agent_id": HOSTILE_IDS[0], "workflow_id": ident}),
                              ("start (agent)", {"op": "start", "agent_id": ident, "workflow_id": "w"})):
            before = snapshot(client)
            reply = worker.call({"id": f"c{index}-{name}", **request})
            outcomes[(ident, name)] = (reply, changed_keys(before, snapshot(client)))
    worker.finish()
    return outcomes


def test_worker_refuses_control_characters_in_ids(control_refusals, figures):
    """DESIGN: no control characters in ids (CR LF, tab, NUL, DEL, NEL)."""
    wrong = {key: value for key, value in control_refusals.items()
             if (value[0] or {}).get("error", {}).get("code") != "invalid_input" or value[1]}
    figures.record("hostile_input", control_refused_by_worker=len(control_refusals) - len(wrong))
    assert wrong == {}


def test_cli_refuses_control_characters_in_agent_ids_with_64(module_harness, store, figures):
    """`agent register` with a control character exits 64 and changes nothing."""
    client = store["server"].client()
    wrong = {}
    candidates = [ident for ident in CONTROL_IDS if "\u0000" not in ident]     # argv cannot carry NUL
    for ident in candidates:
        before = snapshot(client)
        result = module_harness.opscore(store["url"], "agent", "register", ident)
        changed = changed_keys(before, snapshot(client))
        if result.rc != 64 or changed:
            wrong[ident] = (result.brief(), changed)
    figures.record("hostile_input", control_refused_by_cli=len(candidates) - len(wrong))
    assert wrong == {}


def test_bad_metadata_is_refused_with_64_by_start_and_update(module_harness, store, figures):
    """Over 64 KiB, deeper than 64 levels, not an object, not JSON: exit 64, nothing changes."""
    client = store["server"].client()
    target = next(iter(store["sessions"]))
    wrong = {}
    for label, text in BAD_METADATA.items():
        before = snapshot(client)
        start = module_harness.opscore(store["url"], "session", "start", "--agent", HOSTILE_IDS[0],
                                       "--workflow", "w", "--metadata", text)
        update = module_harness.opscore(store["url"], "session", "update", target, "--metadata", text)
        changed = changed_keys(before, snapshot(client))
        if (start.rc, update.rc) != (64, 64) or not start.error_text.startswith("error:") or changed:
            wrong[label] = (start.brief(), update.brief(), changed)
    figures.record("hostile_input", bad_metadata_refused=f"{len(BAD_METADATA) - len(wrong)}/{len(BAD_METADATA)}")
    assert wrong == {}


def test_metadata_nested_64_levels_is_accepted(module_harness, store):
    """The boundary: exactly 64 levels is fine, and counts as one update."""
    target = next(iter(store["sessions"]))
    before = module_harness.session_get(store["url"], target)["version"]
    result = module_harness.opscore(store["url"], "session", "update", target,
                                    "--metadata", '{"d":' * 63 + "{}" + "}" * 63)
    assert result.rc == 0, result.brief()
    assert module_harness.session_get(store["url"], target)["version"] == before + 1


@pytest.mark.parametrize("kind", INVALID_NAMESPACES)
def test_invalid_namespace_exits_64_and_writes_nothing(redis_server, run_opscore, kind):
    """Namespaces are [A-Za-z0-9_.-]{1,64}; anything else is bad usage."""
    server = redis_server()
    result = run_opscore(server.url, "agent", "register", "ns-agent", namespace=INVALID_NAMESPACES[kind])
    assert result.rc == 64, result.brief()
    assert scan_keys(server.client()) == []


def test_worker_refuses_an_invalid_namespace_with_64(harness):
    """The worker checks the namespace at start: exit 64, nothing written."""
    server = harness.start_redis()
    worker = harness.start_worker(server.url, "bad-namespace", namespace="a:b")
    assert worker.finish(timeout=10) == 64
    assert scan_keys(server.client()) == []


def test_namespace_of_64_allowed_characters_is_accepted(redis_server, run_opscore):
    """The boundary: 64 characters of [A-Za-z0-9_.-] are a valid namespace."""
    server = redis_server()
    result = run_opscore(server.url, "agent", "register", "ns-agent", namespace=VALID_NAMESPACE)
    assert result.rc == 0, result.brief()
    assert all(server.client().sismember(agents_key(VALID_NAMESPACE, label), "ns-agent") for label in PARTITIONS)
