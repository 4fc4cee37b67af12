import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Testing

/// CLI behaviour fixed by the hardening review: namespaces that cannot collide,
/// `--origin`, partial commits reported as such, and `session list` that shows
/// what it can read around a corrupt session.
@Suite struct HardenedCommandTests {
    @Test(arguments: ["opscore:agent:x", "ops{1}", "with space", "", String(repeating: "n", count: 65), "tab\there", "ünï"])
    func aNamespaceOutsideTheSafeAlphabetExits64AndWritesNothing(namespace: String) async throws {
        let cli = try await CLIFixture.make("bad-ns")
        var runs = [try await runOpscore(["agent", "register", "x", "--redis-url", cli.redisURL, "--namespace", namespace])]
        if !namespace.isEmpty {  // an empty OPSCORE_NAMESPACE means "not set"
            runs.append(try await runOpscore(
                ["agent", "register", "x", "--redis-url", cli.redisURL],
                environment: childEnvironment(["OPSCORE_NAMESPACE": namespace])))
        }
        for result in runs {
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.errorLines.count == 1)
            #expect(result.stderr.hasPrefix("error: invalid namespace"))
        }
        #expect(try await cli.redis { try $0.exists(namespace + ":agents") } == false)
    }

    @Test func originFlagAndEnvironmentNameTheWriterInEvents() async throws {
        let cli = try await CLIFixture.make("origin")
        try await cli.register("agent-1")
        let channel = cli.eventsChannel
        let subscriber = RedisSubscriber(configuration: cli.server.configuration, channels: [channel])
        let received = EventLines()
        subscriber.start()
        defer { subscriber.stop() }
        let listening = Task {
            for await event in subscriber.events {
                if case .message(let message) = event { received.append(String(decoding: message.payload, as: UTF8.self)) }
            }
        }
        defer { listening.cancel() }
        #expect(try await waitUntilAsync(timeout: 5) { try await cli.redis { try $0.subscribers(channel) } == 1 })

        let byFlag = try await cli.object(["--origin", "host-a", "session", "start", "--agent", "agent-1", "--workflow", "wf"])
        let byEnvironment = try await runOpscore(
            ["session", "update", byFlag.string("session_id"), "--status", "paused"] + cli.flags,
            environment: childEnvironment(["OPSCORE_ORIGIN": "host-b"]))
        #expect(byEnvironment.exitCode == 0, "\(byEnvironment)")
        let control = try await cli.run(["--origin", "bad\u{7}name", "session", "end", byFlag.string("session_id")])
        #expect(control.exitCode == 64)
        #expect(control.stderr.hasPrefix("error: invalid origin"))

        #expect(await waitUntilAsync(timeout: 5) { received.lines.count >= 2 })
        let origins = try received.lines.map { try JSONObject(line: $0).string("origin") }
        #expect(origins == ["host-a", "host-b"])
    }

    @Test func aCommandFailingInsideExecExits1AsPartiallyAppliedAndIsNotRetried() async throws {
        let cli = try await CLIFixture.make("partial")
        try await cli.register("agent-1")
        let id = try await cli.start(agent: "agent-1").string("session_id")
        let byUpdate = cli.byUpdateKey(for: id)
        let key = cli.sessionKey(id)
        // Another tool left the by-update index as a string.
        _ = try await cli.redis { try $0.send("SET", byUpdate, "not a sorted set") }
        let result = try await cli.run(["session", "update", id, "--metadata", #"{"x":1}"#])
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.errorLines.count == 1)
        #expect(result.stderr.contains("partially applied"))
        #expect(result.stderr.contains("ZADD"))
        #expect(result.stderr.contains(byUpdate))
        // The hash part committed exactly once.
        let hash = try await cli.redis { try $0.hgetall(key) }
        #expect(hash["version"] == "2")
        #expect(hash["metadata"] == #"{"x":1}"#)
    }

    @Test func sessionListPrintsTheReadableSessionsAndOneErrorLinePerCorruptOne() async throws {
        let cli = try await CLIFixture.make("list-corrupt")
        try await cli.register("agent-1")
        var good: [String] = []
        for _ in 0..<3 { good.append(try await cli.start(agent: "agent-1").string("session_id")) }
        let corrupt = [SessionID.random().text, SessionID.random().text]
        let indexes = corrupt.map { cli.agentIndexKey("agent-1", for: $0) }
        let keys = corrupt.map(cli.sessionKey)
        _ = try await cli.redis { redis in
            try redis.send("HSET", keys[0], "session_id", corrupt[0], "status", "active")
            try redis.send("SET", keys[1], "not a hash")
            for (id, index) in zip(corrupt, indexes) { try redis.send("ZADD", index, 1, id) }
        }
        let result = try await cli.run(["session", "list", "--agent", "agent-1"])
        #expect(result.exitCode == 1, "\(result)")
        #expect(Set(try result.lines.map { try JSONObject(line: $0).string("session_id") }) == Set(good))
        #expect(result.errorLines.count == 2)
        #expect(result.errorLines.allSatisfy { $0.hasPrefix("error: corrupt session") })
        for key in keys { #expect(result.errorLines.contains { $0.contains(key) }) }
    }
}

/// Lines collected from a subscriber task.
final class EventLines: @unchecked Sendable {
    // @unchecked Sendable: `stored` is only touched while `lock` is held.
    private let lock = NSLock()
    private var stored: [String] = []

    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var lines: [String] { lock.withLock { stored } }
}

/// Polls an async condition every 20 ms until it holds or `timeout` seconds pass.
func waitUntilAsync(timeout: TimeInterval, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
