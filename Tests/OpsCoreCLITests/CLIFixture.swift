import Foundation
import OpsCore
import Redis
import RedisTestSupport

// A namespace of its own on the shared test server, the `opscore` flags that
// reach it, and raw Redis reads as `redis-cli` would show them.

/// One test's namespace on the shared server, and the flags that point `opscore` at it.
struct CLIFixture: Sendable {
    let server: RedisTestServer
    let namespace: String
    let redisURL: String

    /// The shared server and a fresh namespace.
    static func make(_ name: String) async throws -> CLIFixture {
        try await onOwnThread {
            let server = try withRetries { try RedisTestServer.shared() }
            return CLIFixture(server: server, namespace: RedisTestServer.uniquePrefix(name), redisURL: server.url)
        }
    }

    /// `--redis-url … --namespace … --format json`, written after the command.
    var flags: [String] { ["--redis-url", redisURL, "--namespace", namespace, "--format", "json"] }

    /// Runs `opscore <arguments> <flags>` to completion.
    func run(_ arguments: [String], stdin: [UInt8] = [], timeout: TimeInterval = 20) async throws -> CLIResult {
        try await runOpscore(arguments + flags, stdin: stdin, timeout: timeout)
    }

    /// Runs a command that must succeed and print exactly one JSON object; returns it.
    func object(_ arguments: [String]) async throws -> JSONObject {
        let result = try await run(arguments)
        guard result.exitCode == 0, result.stderr.isEmpty, result.lines.count == 1 else {
            throw TestServerError("opscore \(arguments.joined(separator: " ")) failed: \(result)")
        }
        return try JSONObject(line: result.lines[0])
    }

    /// Registers agents through the CLI.
    func register(_ agents: String...) async throws {
        _ = try await object(["agent", "register"] + agents)
    }

    /// Starts a session through the CLI and returns it.
    func start(agent: String, workflow: String = "wf", metadata: String? = nil) async throws -> JSONObject {
        try await object(["session", "start", "--agent", agent, "--workflow", workflow] + (metadata.map { ["--metadata", $0] } ?? []))
    }

    /// Runs blocking Redis reads on a thread of its own with a fresh connection.
    func redis<Value: Sendable>(_ body: @escaping @Sendable (RedisProbe) throws -> Value) async throws -> Value {
        let server = server
        return try await onOwnThread { try body(try RedisProbe(server)) }
    }

    /// The partition label of a session id: its first hex digit.
    static func partition(_ id: String) -> String { String(id.prefix(1)).lowercased() }
    /// `<ns>:{p}:session:<id>`.
    func sessionKey(_ id: String) -> String { "\(namespace):{\(Self.partition(id))}:session:\(id)" }
    /// `<ns>:{p}:agent:<agent>:sessions` of the session's partition.
    func agentIndexKey(_ agent: String, for id: String) -> String { "\(namespace):{\(Self.partition(id))}:agent:\(agent):sessions" }
    /// `<ns>:{p}:agents`.
    func agentsKey(partition: String) -> String { "\(namespace):{\(partition)}:agents" }
    /// Partition 0's agents set; registration writes the same members to all 16.
    var agentsKey: String { agentsKey(partition: "0") }
    /// The 16 partitions' by-update indexes.
    var byUpdateKeys: [String] { KeySpace.partitionLabels.map { "\(namespace):{\($0)}:by_update" } }
    /// The 16 partitions' indexes of an agent's sessions.
    func agentIndexKeys(_ agent: String) -> [String] { KeySpace.partitionLabels.map { "\(namespace):{\($0)}:agent:\(agent):sessions" } }
    /// `<ns>:events`.
    var eventsChannel: String { "\(namespace):events" }
    /// `<ns>:{p}:by_update` of the session's partition.
    func byUpdateKey(for id: String) -> String { "\(namespace):{\(Self.partition(id))}:by_update" }
    /// `<ns>:{p}:events` of the session's partition.
    func eventStreamKey(for id: String) -> String { "\(namespace):{\(Self.partition(id))}:events" }

    /// Every key of the namespace with its `DUMP`, to prove a refused command changed nothing.
    func keyspaceDump() async throws -> [String: [UInt8]] {
        let namespace = namespace
        return try await redis { try $0.dump(pattern: "\(namespace):*") }
    }

    /// A lifecycle in this namespace, for preparing state without the CLI.
    func lifecycle(poolSize: Int = 1) -> SessionLifecycle {
        try! SessionLifecycle(pool: RedisConnectionPool(configuration: server.configuration, size: poolSize), namespace: namespace)
    }
}

/// A private redis-server (for passwords, sockets), started with retries.
func startPrivateServer(_ options: RedisTestServer.Options) async throws -> RedisTestServer {
    try await onOwnThread { try withRetries { try RedisTestServer.start(options: options) } }
}

/// Runs `body` up to `attempts` times until it does not throw. Blocking.
///
/// `RedisTestServer.start` picks a random port, which a busy test run sometimes finds
/// taken by a client connection's ephemeral port; its own retries share one directory
/// that the first failed attempt deletes, so they cannot recover. A fresh call can.
func withRetries<Value>(attempts: Int = 5, _ body: () throws -> Value) throws -> Value {
    var attempt = 1
    while true {
        do {
            return try body()
        } catch {
            if attempt >= attempts { throw error }
            attempt += 1
        }
    }
}

/// A parsed JSON object printed by `opscore`.
struct JSONObject: Sendable, CustomStringConvertible {
    let fields: [String: JSONValue]

    init(line: String) throws {
        guard case .object(let fields) = try JSONValue(parsing: line) else {
            throw TestServerError("not a JSON object: \(line)")
        }
        self.fields = fields
    }

    subscript(_ name: String) -> JSONValue? { fields[name] }

    /// A string field, or "" when absent or not a string.
    func string(_ name: String) -> String { fields[name]?.stringValue ?? "" }

    var keys: Set<String> { Set(fields.keys) }

    var description: String { JSONValue.object(fields).jsonString }
}

/// A plain blocking client for reading state back (routed by key on a Cluster).
/// Use on one thread.
final class RedisProbe {
    let connection: RedisTestClient

    init(_ server: RedisTestServer) throws {
        connection = try RedisTestClient(configuration: server.configuration)
    }

    @discardableResult
    func send(_ name: String, _ arguments: any RedisArgument...) throws -> RedisReply {
        try connection.send(RedisCommand(name, arguments))
    }

    /// `HGETALL key` as text fields.
    func hgetall(_ key: String) throws -> [String: String] {
        try connection.hashFields(key)
    }

    /// `HGET key field`.
    func hget(_ key: String, _ field: String) throws -> String? {
        try send("HGET", key, field).text
    }

    /// `ZRANGE key 0 -1` members, lowest score first.
    func zrangeMerged(_ keys: [String]) throws -> [String] {
        var scored: [(Double, String)] = []
        for key in keys {
            let reply = try send("ZRANGE", key, 0, -1, "WITHSCORES").array ?? []
            for index in stride(from: 0, to: reply.count - 1, by: 2) {
                if let member = reply[index].text, let score = reply[index + 1].text.flatMap(Double.init) { scored.append((score, member)) }
            }
        }
        return scored.sorted { $0 < $1 }.map(\.1)
    }

    /// `ZRANGE key 0 -1`.
    func zrange(_ key: String) throws -> [String] {
        (try send("ZRANGE", key, 0, -1).array ?? []).compactMap(\.text)
    }

    /// `SMEMBERS key`.
    func smembers(_ key: String) throws -> Set<String> {
        Set((try send("SMEMBERS", key).array ?? []).compactMap(\.text))
    }

    /// `EXISTS key == 1`.
    func exists(_ key: String) throws -> Bool {
        try send("EXISTS", key).integer == 1
    }

    /// An ISO-8601 time after everything committed so far (by the Redis clock), for
    /// `watch --since`: the watch then prints exactly what commits from now on.
    func sinceNow() throws -> String {
        let parts = try send("TIME").array ?? []
        let milliseconds = (parts.first?.integer ?? 0) * 1000 + (parts.last?.integer ?? 0) / 1000 + 1
        usleep(3_000)  // the next commit's millisecond is later
        return Timestamp(millisecondsSince1970: milliseconds).description
    }

    /// `PUBSUB NUMSUB channel`: the number of subscribers.
    func subscribers(_ channel: String) throws -> Int {
        let parts = try send("PUBSUB", "NUMSUB", channel).array ?? []
        return parts.count == 2 ? Int(parts[1].integer ?? 0) : 0
    }

    /// `KEYS pattern` (a test's own small namespace only) with each key's `DUMP`.
    func dump(pattern: String) throws -> [String: [UInt8]] {
        var dumps: [String: [UInt8]] = [:]
        for key in (try send("KEYS", pattern).array ?? []).compactMap(\.text) {
            dumps[key] = try send("DUMP", key).bytes ?? []
        }
        return dumps
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes. Blocking.
/// - Returns: Whether the condition held.
func waitUntil(timeout: TimeInterval, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        usleep(20_000)
    }
}

/// The exact set of keys `--format json` prints for a session.
let sessionJSONKeys: Set<String> = [
    "session_id", "agent_id", "workflow_id", "status", "start_time", "last_updated_time", "metadata", "version",
]

/// `2026-11-25T12:00:00.123Z`.
func isISO8601Milliseconds(_ text: String) -> Bool {
    text.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil
}
