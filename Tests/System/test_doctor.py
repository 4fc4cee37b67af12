"""`opscore doctor`: one line per check, `ok`/`warn`/`fail`, exit 1 when any
check fails. Each broken state is built on a real server with redis-py (the
way another tool or an accident would leave it), then diagnosed."""

import time

from support.layout import PARTITIONS, agents_key, by_update_key, event_stream_key, session_key


def doctor(harness, url, *extra):
    """Runs doctor; returns (exit code, {check: (status, detail)}, the raw lines)."""
    result = harness.opscore(url, "doctor", *extra)
    lines = result.json_lines()
    assert all(set(line) == {"check", "status", "detail"} for line in lines), result.text
    assert all(line["status"] in ("ok", "warn", "fail") for line in lines), result.text
    by_name = {}
    for line in lines:
        by_name.setdefault(line["check"], []).append((line["status"], line["detail"]))
    return result.rc, by_name, lines


def doctor_reports(harness, url, check, status, rc):
    """Runs doctor; asserts that it exits RC and that CHECK's first line says STATUS; returns that line's detail."""
    code, checks, _ = doctor(harness, url)
    assert code == rc
    got, detail = checks[check][0]
    assert got == status
    return detail


def healthy_namespace(harness, url):
    """An agent, two sessions and an update: what a working deployment holds."""
    assert harness.opscore(url, "agent", "register", "doc-agent").rc == 0
    ids = harness.start_sessions(url, "doc-agent", 2)
    assert harness.opscore(url, "session", "update", ids[0], "--metadata", '{"a":1}').rc == 0
    return ids


def healthy_server(harness):
    """A redis-server holding a healthy namespace, for a test to break: (url, session ids, redis-py client)."""
    server = harness.start_redis()
    return server.url, healthy_namespace(harness, server.url), server.client()


def test_a_healthy_deployment_passes_every_check_and_exits_0(harness):
    server = harness.start_redis("--appendonly", "yes", "--appendfsync", "always")
    url = server.url
    healthy_namespace(harness, url)
    rc, checks, lines = doctor(harness, url)
    assert rc == 0, lines
    for name in ("redis", "topology", "maxmemory_policy", "persistence", "layout", "agents", "indexes", "streams", "permissions"):
        assert checks[name][0][0] == "ok", (name, checks[name])
    assert "Redis 7" in checks["redis"][0][1]
    assert "appendfsync always" in checks["persistence"][0][1]
    assert "1 agent registered in all 16 partitions" in checks["agents"][0][1]
    assert "3 events in 16 streams" in checks["streams"][0][1]


def test_an_evicting_memory_policy_fails_and_says_to_use_noeviction(harness):
    server = harness.start_redis("--maxmemory-policy", "allkeys-lru")
    detail = doctor_reports(harness, server.url, "maxmemory_policy", "fail", rc=1)
    assert "allkeys-lru" in detail and "noeviction" in detail


def test_persistence_off_warns_what_an_acknowledged_write_then_means_and_exits_0(harness):
    server = harness.start_redis()   # the harness runs redis with --save '' --appendonly no
    detail = doctor_reports(harness, server.url, "persistence", "warn", rc=0)
    assert "lost when Redis restarts" in detail


def test_an_agent_in_only_some_partitions_fails_naming_it(harness):
    url, _, client = healthy_server(harness)
    for label in PARTITIONS[:5]:
        client.sadd(agents_key("opscore", label), "half-agent")
    detail = doctor_reports(harness, url, "agents", "fail", rc=1)
    assert "half-agent" in detail and "agent register" in detail


def test_an_index_entry_without_a_session_warns_and_names_it(harness):
    url, ids, client = healthy_server(harness)
    client.delete(session_key("opscore", ids[1]))   # the hash gone, its index entry left
    detail = doctor_reports(harness, url, "indexes", "warn", rc=0)
    assert "1 without a session" in detail and ids[1] in detail


def test_a_live_session_missing_from_the_by_update_index_warns(harness):
    url, ids, client = healthy_server(harness)
    client.zrem(by_update_key("opscore", ids[0][0]), ids[0])
    detail = doctor_reports(harness, url, "indexes", "warn", rc=0)
    assert "1 of them missing from the by-update index" in detail and ids[0] in detail


def test_a_stuck_consumer_group_warns_with_its_pending_count_and_age(harness):
    url, ids, client = healthy_server(harness)
    stream = event_stream_key("opscore", ids[0][0])
    client.xgroup_create(stream, "stuck-group", id="0")
    delivered = client.xreadgroup("stuck-group", "gone-consumer", {stream: ">"})
    assert delivered and delivered[0][1], "the group got nothing to hold"
    time.sleep(1.2)
    rc, checks, _ = doctor(harness, url)
    assert rc == 0
    (status, detail), = checks["consumer_group"]
    assert status == "ok"                     # idle 1 s is not stuck yet
    assert "stuck-group" in detail and f"{len(delivered[0][1])} pending" in detail
    # Age the pending entries past doctor's 60 s threshold by claiming them back in time:
    # XCLAIM … IDLE sets the idle time as if the delivery were older.
    entry_ids = [entry_id for entry_id, _ in delivered[0][1]]
    client.xclaim(stream, "stuck-group", "gone-consumer", 0, entry_ids, idle=120_000)
    rc, checks, _ = doctor(harness, url)
    assert rc == 0
    (status, detail), = checks["consumer_group"]
    assert status == "warn"
    assert "oldest idle 1" in detail and "--claim-after" in detail


def test_layout_1_keys_without_meta_fail_and_name_migrate(harness):
    server = harness.start_redis()
    client = server.client()
    client.sadd("opscore:agents", "old-agent")
    rc, checks, _ = doctor(harness, server.url)
    assert rc == 1
    status, detail = checks["layout"][0]
    assert status == "fail" and "opscore migrate" in detail


def test_a_user_without_dryrun_gets_a_could_not_check_line_and_one_lacking_a_family_is_told_which(harness):
    server = harness.start_redis()
    admin = server.client()
    healthy_namespace(harness, server.url)
    base = ["on", ">pw", "~opscore:*", "&opscore:*", "-@all", "+ping", "+time", "+info", "+config|get", "+watch", "+multi",
            "+exec", "+discard", "+hgetall", "+hset", "+hsetnx", "+hget", "+xadd", "+xread", "+xinfo", "+xlen", "+del",
            "+exists", "+sismember", "+sadd", "+srem", "+smembers", "+zadd", "+zrem", "+zrange", "+zscore", "+zrevrange",
            "+zrangebyscore", "+publish", "+scan"]
    admin.execute_command("ACL", "SETUSER", "plain", *base)
    url = server.url_for(user="plain", password="pw")
    rc, checks, _ = doctor(harness, url)
    status, detail = checks["permissions"][0]
    assert status == "warn" and "could not check" in detail and "ACL DRYRUN" in detail
    # Allowed to ask, but without the consumer-group commands: a warning naming them.
    admin.execute_command("ACL", "SETUSER", "plain", "+acl|dryrun")
    rc, checks, _ = doctor(harness, url)
    status, detail = checks["permissions"][0]
    assert status == "warn", detail
    assert "consume: +xack +xautoclaim +xgroup +xpending +xreadgroup" in detail
    assert "--wait-replicas: +wait" in detail
    # Without +hset the sessions family is missing: a failure.
    admin.execute_command("ACL", "SETUSER", "plain", "-hset")
    rc, checks, _ = doctor(harness, url)
    status, detail = checks["permissions"][0]
    assert rc == 1 and status == "fail" and "sessions: +hset" in detail


def test_an_unreachable_redis_is_one_failed_line(harness):
    rc, checks, lines = doctor(harness, "redis://127.0.0.1:1/0?timeout=1&connect_timeout=0.5")
    assert rc == 1
    assert len(lines) == 1
    status, detail = checks["redis"][0]
    assert status == "fail" and "cannot reach Redis" in detail


def test_under_sentinel_doctor_reports_the_sentinels_view_and_fails_without_a_quorum(harness):
    from support.sentinel import SentinelDeployment

    deployment = SentinelDeployment(harness, name="doctor")
    url = deployment.url()
    healthy_namespace(harness, url)
    rc, checks, lines = doctor(harness, url)
    assert rc == 0, lines
    status, detail = checks["topology"][0]
    primary = deployment.current_primary()
    assert status == "ok"
    assert f"primary 127.0.0.1:{primary.port}" in detail
    assert all(f"127.0.0.1:{replica.port}" in detail for replica in deployment.replicas)
    assert "3 sentinels known, quorum 2" in detail
    assert checks["redis"][0][1].startswith(f"Redis 7") and "2 replicas connected" in checks["redis"][0][1]
    # Two of three sentinels gone: the one left cannot authorize a failover.
    for sentinel in deployment.sentinels[1:]:
        sentinel.shut_down()
    rc, checks, lines = doctor(harness, url)
    status, detail = checks["topology"][0]
    assert status in ("warn", "fail") and "unreachable" in detail, detail
    # Once the last sentinel has marked the others down, CKQUORUM says no failover is possible.
    deadline = time.monotonic() + 15
    while rc != 1 and time.monotonic() < deadline:
        time.sleep(0.3)
        rc, checks, lines = doctor(harness, url)
    assert rc == 1, lines
    status, detail = checks["topology"][0]
    assert status == "fail"
    assert "no failover possible" in detail and "unreachable" in detail
