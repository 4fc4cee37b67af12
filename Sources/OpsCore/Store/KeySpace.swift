/// The Redis keys of one namespace, layout 2. Every key OpsCore touches is built here.
///
/// A session's partition is the first hex digit of its id, so there are 16.
/// Every key of a partition carries the Redis Cluster hash tag `{p}`, so all the
/// keys one transaction touches live in one slot: `<ns>:{p}:agents`,
/// `<ns>:{p}:session:<id>`, `<ns>:{p}:agent:<agent_id>:sessions`,
/// `<ns>:{p}:by_update`, `<ns>:{p}:events` and `<ns>:{p}:events:dead`. Besides
/// them: the hash `<ns>:meta` and the pub/sub channel `<ns>:events`. Agent ids
/// are used verbatim; since the prefix and suffix are fixed, two different
/// agents never share a key.
public struct KeySpace: Sendable, Hashable {
    /// The number of partitions.
    public static let partitionCount = 16
    /// The longest namespace, in characters.
    public static let maximumNamespaceLength = 64

    /// The namespace, `opscore` by default.
    public let namespace: String
    /// `<ns>:meta`: the layout, the partition count and `events_maxlen`.
    public let meta: [UInt8]
    /// `<ns>:events`: the pub/sub channel carrying every event (at most once).
    public let events: [UInt8]
    /// The layout-1 agents set, `<ns>:agents` (read only to detect and migrate layout 1).
    public let layout1Agents: [UInt8]
    /// The layout-1 by-update index, `<ns>:sessions:by_update` (likewise).
    public let layout1ByUpdate: [UInt8]
    /// `<ns>:{p}:` for each partition.
    private let prefixes: [[UInt8]]
    /// The keys that do not depend on a session or agent, per partition, built
    /// once: every write names some of them.
    private let agentsKeys: [[UInt8]]
    private let sessionPrefixes: [[UInt8]]
    private let byUpdateKeys: [[UInt8]]
    /// Each partition's event stream, in partition order (as `XREAD` names them).
    public let eventStreams: [[UInt8]]
    private let deadEventStreams: [[UInt8]]

    /// Creates the key space of a namespace.
    /// - Parameter namespace: 1 to 64 characters of `[A-Za-z0-9_.-]`, so that no two
    ///   namespaces (nor a namespace and an agent id) can ever produce the same key.
    /// - Throws: ``OpsCoreError/invalidInput(field:reason:)`` for any other namespace.
    public init(namespace: String = "opscore") throws(OpsCoreError) {
        try Self.validate(namespace: namespace)
        self.namespace = namespace
        meta = Array("\(namespace):meta".utf8)
        events = Array("\(namespace):events".utf8)
        layout1Agents = Array("\(namespace):agents".utf8)
        layout1ByUpdate = Array("\(namespace):sessions:by_update".utf8)
        let prefixes = Self.partitionLabels.map { Array("\(namespace):{\($0)}:".utf8) }
        self.prefixes = prefixes
        agentsKeys = prefixes.map { $0 + Array("agents".utf8) }
        sessionPrefixes = prefixes.map { $0 + Array("session:".utf8) }
        byUpdateKeys = prefixes.map { $0 + Array("by_update".utf8) }
        eventStreams = prefixes.map { $0 + Array("events".utf8) }
        deadEventStreams = prefixes.map { $0 + Array("events:dead".utf8) }
    }

    /// Checks a namespace: 1 to 64 characters of `[A-Za-z0-9_.-]` (no `:`, braces or whitespace).
    /// - Throws: ``OpsCoreError/invalidInput(field:reason:)``.
    public static func validate(namespace: String) throws(OpsCoreError) {
        let allowed = namespace.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
        guard allowed, (1...maximumNamespaceLength).contains(namespace.utf8.count) else {
            throw .invalidInput(field: "namespace", reason: "must be 1 to \(maximumNamespaceLength) characters of A-Z, a-z, 0-9, '_', '.' and '-'")
        }
    }

    /// The partitions' labels, `0` to `f`.
    public static let partitionLabels = (0..<partitionCount).map { String($0, radix: 16) }

    /// Every partition number, 0 to 15.
    public static var partitions: Range<Int> { 0..<partitionCount }

    /// The partition of a session: the value of its id's first hex digit.
    public static func partition(of id: SessionID) -> Int {
        let first = id.text.utf8.first!
        return Int(first <= UInt8(ascii: "9") ? first - UInt8(ascii: "0") : first - UInt8(ascii: "a") + 10)
    }

    /// A partition's agents set; an agent is registered when it is in all 16.
    public func agents(_ partition: Int) -> [UInt8] { agentsKeys[partition] }

    /// The hash of one session.
    public func session(_ id: SessionID) -> [UInt8] {
        sessionPrefixes[Self.partition(of: id)] + id.text.utf8
    }

    /// A partition's sorted set indexing an agent's sessions by start time.
    public func agentSessions(_ agentID: String, partition: Int) -> [UInt8] {
        prefixes[partition] + Array("agent:".utf8) + Array(agentID.utf8) + Array(":sessions".utf8)
    }

    /// A partition's sorted set of live (active or paused) sessions scored by last update (ms).
    public func byUpdate(_ partition: Int) -> [UInt8] { byUpdateKeys[partition] }

    /// A partition's event stream.
    public func eventStream(_ partition: Int) -> [UInt8] { eventStreams[partition] }

    /// The partition whose event stream `key` is, or `nil`.
    public func partition(ofEventStream key: [UInt8]) -> Int? { eventStreams.firstIndex(of: key) }

    /// A partition's dead-letter stream (events a consumer group gave up on).
    public func deadEventStream(_ partition: Int) -> [UInt8] { deadEventStreams[partition] }

    /// The layout-1 hash of a session, `<ns>:session:<id>` (for `migrate`).
    public func layout1Session(_ id: SessionID) -> [UInt8] { Array("\(namespace):session:\(id.text)".utf8) }

    /// The layout-1 agent index, `<ns>:agent:<agent_id>:sessions` (for `migrate`).
    public func layout1AgentSessions(_ agentID: String) -> [UInt8] { Array("\(namespace):agent:".utf8) + Array(agentID.utf8) + Array(":sessions".utf8) }

    /// The events channel's name as text.
    public var eventsChannel: String { "\(namespace):events" }
}
