import OpsCore
import RedisTestSupport
import Testing

/// Every one-shot command's `--format json` output against a real redis-server,
/// with the keys read back afterwards as `redis-cli` would show them.
@Suite struct CommandOutputTests {
    @Test func agentRegisterListAndRemovePrintOneJSONObjectPerLineAndChangeTheAgentsSet() async throws {
        let cli = try await CLIFixture.make("agents")

        let registered = try await cli.run(["agent", "register", "agent-a", "agent-b"])
        #expect(registered.exitCode == 0)
        #expect(registered.stderr.isEmpty)
        #expect(registered.lines.count == 1)
        let first = try JSONObject(line: try #require(registered.lines.first))
        #expect(first.keys == ["added", "registered"])
        #expect(first["added"] == .integer(2))
        #expect(first["registered"] == .array(["agent-a", "agent-b"]))

        let again = try await cli.object(["agent", "register", "agent-b", "agent-c"])
        #expect(again["added"] == .integer(1))
        #expect(again["registered"] == .array(["agent-b", "agent-c"]))

        let list = try await cli.run(["agent", "list"])
        #expect(list.exitCode == 0)
        #expect(list.stderr.isEmpty)
        #expect(try list.lines.map { try JSONObject(line: $0).fields } == [
            ["agent_id": "agent-a"], ["agent_id": "agent-b"], ["agent_id": "agent-c"],
        ])
        let agentsKey = cli.agentsKey
        #expect(try await cli.redis { try $0.smembers(agentsKey) } == ["agent-a", "agent-b", "agent-c"])

        let removed = try await cli.object(["agent", "remove", "agent-b"])
        #expect(removed.fields == ["removed": "agent-b"])
        #expect(try await cli.redis { try $0.smembers(agentsKey) } == ["agent-a", "agent-c"])
        let after = try await cli.run(["agent", "list"])
        #expect(after.lines == [#"{"agent_id":"agent-a"}"#, #"{"agent_id":"agent-c"}"#])
    }

    @Test func sessionStartPrintsOneSessionObjectWithExactlyTheHashFieldsAndWritesHashAndIndexes() async throws {
        let cli = try await CLIFixture.make("start")
        try await cli.register("builder")

        let result = try await cli.run([
            "session", "start", "--agent", "builder", "--workflow", "nightly",
            "--metadata", #"{"branch":"main","n":1,"nested":{"list":[1,"two",null]}}"#,
        ])
        #expect(result.exitCode == 0)
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.hasSuffix("\n"))
        try #require(result.lines.count == 1)
        let session = try JSONObject(line: result.lines[0])
        #expect(session.keys == sessionJSONKeys)
        let id = session.string("session_id")
        #expect(SessionID(id)?.text == id)
        #expect(id == id.lowercased())
        #expect(session["agent_id"] == "builder")
        #expect(session["workflow_id"] == "nightly")
        #expect(session["status"] == "active")
        #expect(session["version"] == .integer(1))
        #expect(session["metadata"] == ["branch": "main", "n": 1, "nested": ["list": [1, "two", .null]]])
        #expect(isISO8601Milliseconds(session.string("start_time")))
        #expect(session["last_updated_time"] == session["start_time"])

        let (hash, agentIndex, byUpdate) = try await cli.redis { [cli] redis in
            (try redis.hgetall(cli.sessionKey(id)), try redis.zrangeMerged(cli.agentIndexKeys("builder")), try redis.zrangeMerged(cli.byUpdateKeys))
        }
        #expect(Set(hash.keys) == sessionJSONKeys)
        #expect(hash["session_id"] == id)
        #expect(hash["agent_id"] == "builder")
        #expect(hash["workflow_id"] == "nightly")
        #expect(hash["status"] == "active")
        #expect(hash["version"] == "1")
        #expect(hash["start_time"] == session.string("start_time"))
        #expect(hash["last_updated_time"] == session.string("last_updated_time"))
        #expect(hash["metadata"] == #"{"branch":"main","n":1,"nested":{"list":[1,"two",null]}}"#)
        #expect(agentIndex == [id])
        #expect(byUpdate == [id])
    }

    @Test func sessionGetUpdateAndEndPrintTheSessionAsStored() async throws {
        let cli = try await CLIFixture.make("update")
        try await cli.register("agent-1")
        let started = try await cli.start(agent: "agent-1", metadata: #"{"a":1,"c":"x"}"#)
        let id = started.string("session_id")

        let got = try await cli.object(["session", "get", id])
        #expect(got.fields == started.fields)

        let updated = try await cli.run([
            "session", "update", id, "--status", "paused", "--metadata", #"{"a":null,"b":2}"#, "--expect-version", "1",
        ])
        #expect(updated.exitCode == 0)
        #expect(updated.stderr.isEmpty)
        try #require(updated.lines.count == 1)
        let paused = try JSONObject(line: updated.lines[0])
        #expect(paused.keys == sessionJSONKeys)
        #expect(paused["status"] == "paused")
        #expect(paused["version"] == .integer(2))
        #expect(paused["metadata"] == ["b": 2, "c": "x"])
        #expect(paused["start_time"] == started["start_time"])
        #expect(paused.string("last_updated_time") >= started.string("last_updated_time"))
        let key = cli.sessionKey(id)
        let hash = try await cli.redis { try $0.hgetall(key) }
        #expect(hash["status"] == "paused")
        #expect(hash["version"] == "2")
        #expect(hash["metadata"] == #"{"b":2,"c":"x"}"#)
        #expect(hash["last_updated_time"] == paused.string("last_updated_time"))

        let ended = try await cli.object(["session", "end", id])
        #expect(ended["status"] == "completed")
        #expect(ended["version"] == .integer(3))
        #expect(ended["metadata"] == ["b": 2, "c": "x"])
        let byUpdateKeys = cli.byUpdateKeys
        let (status, version, live) = try await cli.redis {
            (try $0.hget(key, "status"), try $0.hget(key, "version"), try $0.zrangeMerged(byUpdateKeys))
        }
        #expect(status == "completed")
        #expect(version == "3")
        #expect(!live.contains(id))
        #expect(try await cli.object(["session", "get", id]).fields == ended.fields)

        let other = try await cli.start(agent: "agent-1").string("session_id")
        let failed = try await cli.object(["session", "end", other, "--status", "failed"])
        #expect(failed["status"] == "failed")
        #expect(failed["version"] == .integer(2))
        let otherKey = cli.sessionKey(other)
        #expect(try await cli.redis { try $0.hget(otherKey, "status") } == "failed")
    }

    @Test func metadataOfExactly64KiBSerializedIsAcceptedAndOneByteMoreIsRefused() async throws {
        let cli = try await CLIFixture.make("limit")
        try await cli.register("agent-1")
        // {"b":"…"} serializes to the string's length + 8 bytes.
        let fits = #"{"b":""# + String(repeating: "x", count: 64 * 1024 - 8) + #""}"#
        let tooBig = #"{"b":""# + String(repeating: "x", count: 64 * 1024 - 7) + #""}"#

        let started = try await cli.run(["session", "start", "--agent", "agent-1", "--workflow", "wf", "--metadata", fits])
        #expect(started.exitCode == 0)
        let id = try JSONObject(line: try #require(started.lines.first)).string("session_id")
        let key = cli.sessionKey(id)
        #expect(try await cli.redis { try $0.hget(key, "metadata") }?.utf8.count == 64 * 1024)

        let refused = try await cli.run(["session", "start", "--agent", "agent-1", "--workflow", "wf", "--metadata", tooBig])
        #expect(refused.exitCode == 64)
        #expect(refused.stderr.hasPrefix("error: "))

        // A patch that is small but makes the merged metadata too big is refused too.
        let grows = try await cli.run(["session", "update", id, "--metadata", #"{"c":1}"#])
        #expect(grows.exitCode != 0)
        #expect(grows.stdout.isEmpty)
        #expect(try await cli.redis { try $0.hget(key, "version") } == "1")
    }

    @Test func sessionListPrintsTheAgentsSessionsNewestFirstUpToTheLimit() async throws {
        let cli = try await CLIFixture.make("list")
        try await cli.register("lister", "someone-else")
        var ids: [String] = []
        for step in 0..<3 {
            ids.append(try await cli.start(agent: "lister", workflow: "wf-\(step)").string("session_id"))
        }
        let foreign = try await cli.start(agent: "someone-else").string("session_id")

        let limited = try await cli.run(["session", "list", "--agent", "lister", "--limit", "2"])
        #expect(limited.exitCode == 0)
        #expect(limited.stderr.isEmpty)
        let sessions = try limited.lines.map(JSONObject.init(line:))
        #expect(sessions.map { $0.string("session_id") } == [ids[2], ids[1]])
        #expect(sessions.allSatisfy { $0.keys == sessionJSONKeys && $0["agent_id"] == "lister" })
        #expect(sessions.map { $0.string("workflow_id") } == ["wf-2", "wf-1"])

        let all = try await cli.run(["session", "list", "--agent", "lister"])
        #expect(try all.lines.map { try JSONObject(line: $0).string("session_id") } == ids.reversed())
        #expect(!all.stdout.contains(foreign))

        let none = try await cli.run(["session", "list", "--agent", "nobody-at-all"])
        #expect(none.exitCode == 0)
        #expect(none.stdout.isEmpty)

        let indexKeys = cli.agentIndexKeys("lister")
        #expect(try await cli.redis { try $0.zrangeMerged(indexKeys) } == ids)
    }

    @Test func sessionDeletePrintsTheIDAndRemovesTheHashAndItsIndexEntries() async throws {
        let cli = try await CLIFixture.make("delete")
        try await cli.register("agent-1")
        let id = try await cli.start(agent: "agent-1").string("session_id")
        let kept = try await cli.start(agent: "agent-1").string("session_id")

        let deleted = try await cli.run(["session", "delete", id])
        #expect(deleted.exitCode == 0)
        #expect(deleted.stderr.isEmpty)
        #expect(deleted.lines == [#"{"deleted":"\#(id)"}"#])

        let (exists, agentIndex, byUpdate) = try await cli.redis { [cli] redis in
            (try redis.exists(cli.sessionKey(id)), try redis.zrangeMerged(cli.agentIndexKeys("agent-1")), try redis.zrangeMerged(cli.byUpdateKeys))
        }
        #expect(!exists)
        #expect(agentIndex == [kept])
        #expect(byUpdate == [kept])

        let get = try await cli.run(["session", "get", id])
        #expect(get.exitCode == 1)
        #expect(get.stdout.isEmpty)
    }
}
