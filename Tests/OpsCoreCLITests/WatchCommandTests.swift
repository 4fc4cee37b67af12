import Foundation
import OpsCore
import RedisTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `opscore watch`: one event JSON per line, filtered by session or agent, until a signal.
@Suite struct WatchCommandTests {
    /// Starts `opscore watch --since <now>`: it prints exactly what commits from now
    /// on, however long it takes to start reading (the feed is durable).
    private func startWatch(_ cli: CLIFixture, _ filter: [String]) async throws -> CLIProcess {
        let since = try await cli.redis { try $0.sinceNow() }
        return try CLIProcess(["watch", "--since", since] + filter + cli.flags, environment: childEnvironment(), stdinBytes: [])
    }

    @Test func watchSessionPrintsOnlyThatSessionsEventsAndExitsZeroOnSIGTERM() async throws {
        let cli = try await CLIFixture.make("watch-session")
        try await cli.register("agent-1")
        let watched = try await cli.start(agent: "agent-1").string("session_id")
        let other = try await cli.start(agent: "agent-1").string("session_id")

        let watcher = try await startWatch(cli, ["--session", watched])
        defer { watcher.kill() }

        _ = try await cli.object(["session", "update", other, "--status", "paused"])
        _ = try await cli.object(["session", "update", watched, "--status", "paused", "--metadata", #"{"step":1}"#])
        _ = try await cli.object(["session", "end", other, "--status", "cancelled"])
        _ = try await cli.object(["session", "end", watched])

        let printed = try await onOwnThread { watcher.stdout.waitForLines(2, timeout: 10) }
        try #require(printed.count >= 2, "\(watcher.stdout.text)")
        watcher.signal(SIGTERM)
        let status = try await onOwnThread { watcher.waitForExit(timeout: 5) }
        #expect(status == .exited(0))
        let result = watcher.finish(timeout: 1)

        let events = try result.lines.map(JSONObject.init(line:))
        #expect(events.count == 2, "\(result.stdout)")
        #expect(events.allSatisfy { $0.string("session_id") == watched })
        #expect(events.map { $0.string("type") } == ["session.updated", "session.ended"])
        #expect(events.map { $0.string("status") } == ["paused", "completed"])
        #expect(events.map { $0.string("previous_status") } == ["active", "paused"])
        #expect(events.map { $0["version"] } == [.integer(2), .integer(3)])
        let first = try #require(events.first)
        #expect(first.keys.isSuperset(of: ["type", "session_id", "agent_id", "workflow_id", "status", "previous_status", "version", "changed", "at", "origin"]))
        #expect(first["agent_id"] == "agent-1")
        let changed = Set(first["changed"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        #expect(changed.isSuperset(of: ["status", "metadata"]))
        #expect(isISO8601Milliseconds(first.string("at")))
        #expect(!first.string("origin").isEmpty)
    }

    @Test func watchAgentPrintsOnlyThatAgentsEventsAndExitsZeroOnSIGINT() async throws {
        let cli = try await CLIFixture.make("watch-agent")
        try await cli.register("agent-x", "agent-y")

        let watcher = try await startWatch(cli, ["--agent", "agent-x"])
        defer { watcher.kill() }

        let mine = try await cli.start(agent: "agent-x", workflow: "wf-x").string("session_id")
        let theirs = try await cli.start(agent: "agent-y").string("session_id")
        _ = try await cli.object(["session", "update", theirs, "--metadata", #"{"n":1}"#])
        _ = try await cli.object(["session", "update", mine, "--metadata", #"{"n":1}"#])
        _ = try await cli.object(["session", "end", theirs])
        _ = try await cli.object(["session", "delete", mine])

        let printed = try await onOwnThread { watcher.stdout.waitForLines(3, timeout: 10) }
        try #require(printed.count >= 3, "\(watcher.stdout.text)")
        watcher.signal(SIGINT)
        let status = try await onOwnThread { watcher.waitForExit(timeout: 5) }
        #expect(status == .exited(0))
        let result = watcher.finish(timeout: 1)

        let events = try result.lines.map(JSONObject.init(line:))
        #expect(events.map { $0.string("type") } == ["session.started", "session.updated", "session.deleted"], "\(result.stdout)")
        #expect(events.allSatisfy { $0.string("session_id") == mine && $0.string("agent_id") == "agent-x" && $0.string("workflow_id") == "wf-x" })
        #expect(events.first?["previous_status"] == .null)
        #expect(events.map { $0["version"] } == [.integer(1), .integer(2), .integer(2)])
    }
}

@Suite struct WatchOutputContractTests {
    /// `opscore watch --session ID | head -n 1` must end once `head` has exited.
    /// The Redis client ignores SIGPIPE process-wide, so a write to the closed pipe
    /// fails with EPIPE, which `LineOutput.write` drops silently: watch then runs
    /// forever and the shell pipeline never returns.
    @Test func watchEndsWhenTheReaderOfItsOutputIsGone() async throws {
        let cli = try await CLIFixture.make("watch-epipe")
        try await cli.register("agent-1")
        _ = try await cli.start(agent: "agent-1")
        _ = try await cli.start(agent: "agent-1")
        let watcher = try CLIProcess(["watch", "--since", "beginning"] + cli.flags, environment: childEnvironment(), stdinBytes: [], stdoutReaderGone: true)
        defer { watcher.kill() }
        let status = try await onOwnThread { watcher.waitForExit(timeout: 5) }
        #expect(status != nil, "watch kept running after its stdout reader was gone")
    }

    /// `--format json` promises exactly one JSON object per line, even when another
    /// tool added entries to an event stream that are not one-line JSON objects.
    @Test func watchJSONPrintsOnlyOneLineJSONObjectsEvenForForeignEntries() async throws {
        let cli = try await CLIFixture.make("watch-foreign")
        try await cli.register("agent-1")
        let watcher = try CLIProcess(["watch", "--since", "beginning"] + cli.flags, environment: childEnvironment(), stdinBytes: [])
        defer { watcher.kill() }
        let stream = cli.eventStreamKey(for: "0")
        _ = try await cli.redis { redis in
            try redis.send("XADD", stream, "*", "event", "not json at all")
            try redis.send("XADD", stream, "*", "event", "{\n  \"type\": \"from-another-tool\"\n}")
            try redis.send("XADD", stream, "*", "other", "no event field")
        }
        let started = try await cli.start(agent: "agent-1")
        let id = started.string("session_id")
        let lines = try await onOwnThread { () -> [String] in
            _ = waitUntil(timeout: 10) { watcher.stdout.completeLines.contains { $0.contains(id) } }
            return watcher.stdout.completeLines
        }
        watcher.signal(SIGTERM)
        #expect(try await onOwnThread { watcher.waitForExit(timeout: 5) } == .exited(0))

        for line in lines {
            #expect((try? JSONObject(line: line)) != nil, "not a one-line JSON object: \(line.debugDescription)")
        }
        #expect(lines.last.flatMap { try? JSONObject(line: $0) }?.string("session_id") == id)
    }
}

extension CLIProcess {
    /// `true` while the child has not exited.
    var isAlive: Bool { waitForExit(timeout: 0) == nil }
}
