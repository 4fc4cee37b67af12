import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Synchronization

// Shared helpers for the OpsCore integration tests.
//
// Every OpsCore and Redis call blocks, so tests run them inside `onOwnThread`
// (through `OpsFixture.run`) and assert on the values they return, outside
// the thread. Redis state is read back with raw commands, the way
// `redis-cli` would show it.

// MARK: - Results of calls that may fail

/// Runs a throwing OpsCore call and keeps its outcome as a value.
func attempt<Value>(_ body: () throws(OpsCoreError) -> Value) -> Result<Value, OpsCoreError> {
    do {
        return .success(try body())
    } catch {
        return .failure(error)
    }
}

extension Result {
    /// The error, when the call failed.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }

    /// The value, when the call succeeded.
    var success: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}

extension OpsCoreError {
    /// The `field` of an `invalidInput` error, `nil` for any other error.
    var invalidField: String? {
        if case .invalidInput(let field, _) = self { return field }
        return nil
    }

    /// The key and field of a `corruptSession` error, `nil` for any other error.
    var corruptKeyAndField: CorruptPlace? {
        if case .corruptSession(let key, let field, _) = self { return CorruptPlace(key: key, field: field) }
        return nil
    }
}

/// Where a corrupt session was found.
struct CorruptPlace: Hashable, Sendable, CustomStringConvertible {
    var key: String
    var field: String
    var description: String { "\(key) field \(field)" }
}

// MARK: - Raw Redis, as redis-cli sees it

/// One member of a sorted set with its score.
struct ScoredMember: Hashable, Sendable, CustomStringConvertible {
    var member: String
    var score: Int64
    var description: String { "\(member)@\(score)" }
}

/// Everything Redis holds about one session: its key (type and hash) and its
/// entries in the agent index and the by-update index.
struct SessionSnapshot: Hashable, Sendable {
    var type: String
    var hash: [String: String]
    var agentIndexScore: Int64?
    var byUpdateScore: Int64?
}

/// A plain client used to inspect and prepare Redis state (routed by key on a
/// Cluster). Blocking; use on one thread.
final class RawRedis {
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

    /// `EXISTS key == 1`.
    func exists(_ key: String) throws -> Bool {
        try send("EXISTS", key).integer == 1
    }

    /// `TYPE key`.
    func type(_ key: String) throws -> String {
        try send("TYPE", key).text ?? "?"
    }

    /// `ZRANGE key 0 -1 WITHSCORES`, lowest score first.
    func zrangeWithScores(_ key: String) throws -> [ScoredMember] {
        let elements = try send("ZRANGE", key, 0, -1, "WITHSCORES").array ?? []
        var members: [ScoredMember] = []
        var index = 0
        while index + 1 < elements.count {
            let score = elements[index + 1].text.flatMap { Double($0) }.map { Int64($0) } ?? Int64.min
            members.append(ScoredMember(member: elements[index].text ?? "?", score: score))
            index += 2
        }
        return members
    }

    /// `ZSCORE key member` as whole milliseconds, `nil` when absent.
    func zscore(_ key: String, _ member: String) throws -> Int64? {
        try send("ZSCORE", key, member).text.flatMap { Double($0) }.map { Int64($0) }
    }

    /// Every entry of a stream (`XRANGE key - +`): its id and its `event` field.
    func streamEvents(_ key: String) throws -> [(id: String, payload: [UInt8])] {
        (try send("XRANGE", key, "-", "+").array ?? []).compactMap { entry in
            guard let parts = entry.array, parts.count == 2, let id = parts[0].text, let fields = parts[1].array,
                  fields.count == 2, fields[0].text == "event", let payload = fields[1].bytes else { return nil }
            return (id, payload)
        }
    }

    /// `ZCARD key`.
    func zcard(_ key: String) throws -> Int {
        Int(try send("ZCARD", key).integer ?? -1)
    }

    /// `SMEMBERS key`.
    func smembers(_ key: String) throws -> Set<String> {
        Set((try send("SMEMBERS", key).array ?? []).compactMap(\.text))
    }

    /// `KEYS pattern` (only ever used on a test's own small namespace).
    func keys(_ pattern: String) throws -> Set<String> {
        Set((try send("KEYS", pattern).array ?? []).compactMap(\.text))
    }

    /// Redis's `TIME` in milliseconds.
    func timeMilliseconds() throws -> Int64 {
        let parts = try send("TIME").array ?? []
        guard parts.count == 2, let seconds = parts[0].integer, let micros = parts[1].integer else { return -1 }
        return seconds * 1000 + micros / 1000
    }

    /// `HSET key field value ...`.
    func hset(_ key: String, _ fields: KeyValuePairs<String, String>) throws {
        var arguments: [any RedisArgument] = [key]
        for (name, value) in fields { arguments += [name, value] }
        try connection.send(RedisCommand("HSET", arguments))
    }

    /// The session's key, hash and index entries.
    func snapshot(_ id: SessionID, agent: String, keys: KeySpace) throws -> SessionSnapshot {
        let key = String(decoding: keys.session(id), as: UTF8.self)
        let type = try type(key)
        return SessionSnapshot(
            type: type,
            hash: type == "hash" ? try hgetall(key) : [:],
            agentIndexScore: try zscore(String(decoding: keys.agentSessions(agent, partition: KeySpace.partition(of: id)), as: UTF8.self), id.text),
            byUpdateScore: try zscore(String(decoding: keys.byUpdate(KeySpace.partition(of: id)), as: UTF8.self), id.text)
        )
    }
}

// MARK: - A namespace of one's own

/// `RedisTestServer.shared()`, asked again when starting the server failed (on a
/// busy machine every random port tried can be taken); `shared()` keeps only a
/// server that started, so asking again starts afresh.
func sharedServer() throws -> RedisTestServer {
    var lastError: (any Error)?
    for _ in 0..<3 {
        do {
            return try RedisTestServer.shared()
        } catch {
            lastError = error
        }
    }
    throw lastError ?? TestServerError("no shared server")
}

/// A lifecycle on the shared test server in a namespace no other test uses,
/// with one agent registered.
struct OpsFixture: Sendable {
    let server: RedisTestServer
    let namespace: String
    let keys: KeySpace
    let lifecycle: SessionLifecycle
    let agent: String

    var pool: RedisConnectionPool { lifecycle.store.pool }

    /// Starts (or reuses) the shared server and makes a namespace with `agent` registered.
    static func make(_ name: String = "ops", poolSize: Int = 2, agent: String = "agent-1", register: Bool = true) async throws -> OpsFixture {
        try await onOwnThread {
            let server = try sharedServer()
            let namespace = RedisTestServer.uniquePrefix(name)
            let pool = RedisConnectionPool(configuration: server.configuration, size: poolSize)
            let lifecycle = try SessionLifecycle(pool: pool, namespace: namespace, origin: "origin-\(namespace)")
            if register { try lifecycle.agents.register([agent]) }
            return OpsFixture(server: server, namespace: namespace, keys: try KeySpace(namespace: namespace), lifecycle: lifecycle, agent: agent)
        }
    }

    /// Another lifecycle on the same namespace with a pool (and so connections) of its own.
    func makeLifecycle(poolSize: Int = 1, origin: String? = nil, retry: RedisRetryPolicy = .default) -> SessionLifecycle {
        try! SessionLifecycle(
            pool: RedisConnectionPool(configuration: server.configuration, size: poolSize),
            namespace: namespace, retry: retry, origin: origin ?? lifecycle.origin)
    }

    /// `<ns>:{p}:session:<id>`.
    func sessionKey(_ id: SessionID) -> String { String(decoding: keys.session(id), as: UTF8.self) }
    /// `<ns>:{p}:agent:<agent>:sessions` of the session's partition.
    func agentIndexKey(_ agent: String? = nil, for id: SessionID) -> String {
        String(decoding: keys.agentSessions(agent ?? self.agent, partition: KeySpace.partition(of: id)), as: UTF8.self)
    }
    /// `<ns>:{p}:by_update` of the session's partition.
    func byUpdateKey(for id: SessionID) -> String { byUpdateKey(partition: KeySpace.partition(of: id)) }
    /// `<ns>:{p}:by_update`.
    func byUpdateKey(partition: Int) -> String { String(decoding: keys.byUpdate(partition), as: UTF8.self) }
    /// `<ns>:{p}:agents`.
    func agentsKey(partition: Int) -> String { String(decoding: keys.agents(partition), as: UTF8.self) }
    /// `<ns>:{p}:events`.
    func eventStreamKey(for id: SessionID) -> String { String(decoding: keys.eventStream(KeySpace.partition(of: id)), as: UTF8.self) }

    /// The 16 partitions' agents sets.
    func agentSets(_ raw: RawRedis) throws -> [Set<String>] {
        try KeySpace.partitions.map { try raw.smembers(agentsKey(partition: $0)) }
    }

    /// The keys of a namespace with agents registered and no session: meta and the 16 agents sets.
    var keysWithoutSessions: Set<String> {
        Set(KeySpace.partitions.map { agentsKey(partition: $0) } + [String(decoding: keys.meta, as: UTF8.self)])
    }

    /// `KEYS` pattern of every session hash of the namespace.
    var sessionKeyPattern: String { "\(namespace):{?}:session:*" }

    /// A random session id in partition `partition`.
    static func sessionID(inPartition partition: Int) -> SessionID {
        SessionID(KeySpace.partitionLabels[partition] + SessionID.random().text.dropFirst())!
    }

    /// Every partition's by-update entries, ordered by score then member.
    func byUpdateEntries(_ raw: RawRedis) throws -> [ScoredMember] {
        try KeySpace.partitions.flatMap { try raw.zrangeWithScores(byUpdateKey(partition: $0)) }
            .sorted { ($0.score, $0.member) < ($1.score, $1.member) }
    }

    /// Every partition's agent index entries of `agent`, ordered by score then member.
    func agentIndexEntries(_ raw: RawRedis, agent: String? = nil) throws -> [ScoredMember] {
        try KeySpace.partitions.flatMap {
            try raw.zrangeWithScores(String(decoding: keys.agentSessions(agent ?? self.agent, partition: $0), as: UTF8.self))
        }.sorted { ($0.score, $0.member) < ($1.score, $1.member) }
    }
    /// `<ns>:events`.
    var eventsChannel: String { "\(namespace):events" }

    /// Runs blocking work with the lifecycle and a fresh raw connection on a thread of its own.
    func run<Value: Sendable>(_ body: @escaping @Sendable (SessionLifecycle, RawRedis) throws -> Value) async throws -> Value {
        let lifecycle = lifecycle
        let server = server
        return try await onOwnThread { try body(lifecycle, try RawRedis(server)) }
    }

    /// Subscribes to `<ns>:events` and waits until the subscription is in place.
    func subscribe() async throws -> EventCollector {
        try await EventCollector.start(server: server, channel: eventsChannel)
    }
}

// MARK: - Events

/// Collects every message published on one channel, from a `RedisSubscriber`.
final class EventCollector: Sendable {
    private struct State {
        var subscribed = 0
        var disconnections = 0
        var payloads: [[UInt8]] = []
    }

    let server: RedisTestServer
    let channel: String
    private let subscriber: RedisSubscriber
    private let state = Mutex(State())

    private init(server: RedisTestServer, channel: String) {
        self.server = server
        self.channel = channel
        subscriber = RedisSubscriber(configuration: server.configuration, channels: [channel])
    }

    /// Subscribes and returns once `.subscribed` arrived.
    static func start(server: RedisTestServer, channel: String) async throws -> EventCollector {
        let collector = EventCollector(server: server, channel: channel)
        collector.subscriber.start()
        Task { await collector.consume() }
        guard await collector.wait(for: .seconds(10), until: { $0.subscribed > 0 }) else {
            collector.stop()
            throw TestServerError("no subscription to \(channel) within 10 s")
        }
        return collector
    }

    private func consume() async {
        for await event in subscriber.events {
            state.withLock { state in
                switch event {
                case .subscribed: state.subscribed += 1
                case .disconnected: state.disconnections += 1
                case .message(let message): state.payloads.append(message.payload)
                }
            }
        }
    }

    private func wait(for timeout: Duration, until condition: (State) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if state.withLock({ condition($0) }) { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Stops the subscriber.
    func stop() { subscriber.stop() }

    /// Times the subscription was lost (a test relying on every message expects 0).
    var disconnections: Int { state.withLock { $0.disconnections } }

    /// All payloads so far, once there are at least `count` or `timeout` passed.
    func payloads(atLeast count: Int, timeout: Duration = .seconds(20)) async -> [[UInt8]] {
        _ = await wait(for: timeout) { $0.payloads.count >= count }
        return state.withLock { $0.payloads }
    }

    /// Publishes a unique sentinel with a raw `PUBLISH` and returns every payload
    /// received before it, once it arrived. Since a change's event is published
    /// inside its MULTI, anything a refused change had published would be here.
    /// Returns `nil` when the sentinel never arrived.
    func payloadsBeforeSentinel(timeout: Duration = .seconds(20)) async throws -> [[UInt8]]? {
        let sentinel = Array("sentinel-\(UUID().uuidString)".utf8)
        let server = server
        let channel = channel
        try await onOwnThread { try RawRedis(server).send("PUBLISH", channel, sentinel) }
        guard await wait(for: timeout, until: { $0.payloads.contains(sentinel) }) else { return nil }
        return state.withLock { state in Array(state.payloads.prefix { $0 != sentinel }) }
    }

    /// The session events before a fresh sentinel, `nil` when the sentinel never
    /// arrived; a payload that is not a session event is returned as `nil` in place.
    func eventsBeforeSentinel(timeout: Duration = .seconds(20)) async throws -> [SessionEvent?]? {
        try await payloadsBeforeSentinel(timeout: timeout)?.map { SessionEvent(json: $0) }
    }
}

// MARK: - Small helpers

/// The fields of a session hash, per DESIGN.md.
let designHashFields: Set<String> = [
    "session_id", "agent_id", "workflow_id", "status", "start_time", "last_updated_time", "metadata", "version",
]

/// Every field a start announces in `changed`, in the order it writes them.
let startedChangedFields = [
    "session_id", "agent_id", "workflow_id", "status", "start_time", "last_updated_time", "metadata", "version",
]

/// Sleeps the calling (own, not cooperative) thread.
func sleepOnThread(milliseconds: Int) {
    usleep(useconds_t(milliseconds * 1000))
}

/// Sleeps the calling (own, not cooperative) thread.
func sleepOnThread(microseconds: Int) {
    usleep(useconds_t(microseconds))
}

/// `true` when `text` has the form `YYYY-MM-DDTHH:MM:SS.mmmZ`.
func isISO8601Milliseconds(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    guard bytes.count == 24 else { return false }
    let pattern = Array("dddd-dd-ddTdd:dd:dd.dddZ".utf8)
    for (byte, expected) in zip(bytes, pattern) {
        if expected == UInt8(ascii: "d") {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return false }
        } else if byte != expected {
            return false
        }
    }
    return true
}

/// Parses JSON text into a value, `nil` when it is not JSON.
func parsedJSON(_ text: String) -> JSONValue? {
    try? JSONValue(parsing: text)
}

/// A flag one thread sets and others poll.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { value.load(ordering: .sequentiallyConsistent) }
}

/// A counter shared by threads.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .sequentiallyConsistent) }
    var value: Int { count.load(ordering: .sequentiallyConsistent) }
}
