/// The Redis keys of one namespace. Every key OpsCore touches is built here.
///
/// Keys are `<namespace>:agents`, `<namespace>:session:<id>`,
/// `<namespace>:agent:<agent_id>:sessions`, `<namespace>:sessions:by_update`
/// and the channel `<namespace>:events`. Agent ids are used verbatim; since the
/// prefix and suffix are fixed, two different agents never share a key.
public struct KeySpace: Sendable, Hashable {
    /// The namespace, `opscore` by default.
    public let namespace: String
    /// The agents set.
    public let agents: [UInt8]
    /// The events channel.
    public let events: [UInt8]
    /// The sorted set of live (active or paused) sessions scored by last update (ms).
    public let byUpdate: [UInt8]
    private let sessionPrefix: [UInt8]
    private let agentPrefix: [UInt8]

    /// The longest namespace, in characters.
    public static let maximumNamespaceLength = 64

    /// Creates the key space of a namespace.
    /// - Parameter namespace: 1 to 64 characters of `[A-Za-z0-9_.-]`, so that no two
    ///   namespaces (nor a namespace and an agent id) can ever produce the same key.
    /// - Throws: ``OpsCoreError/invalidInput(field:reason:)`` for any other namespace.
    public init(namespace: String = "opscore") throws(OpsCoreError) {
        try Self.validate(namespace: namespace)
        self.namespace = namespace
        agents = Array("\(namespace):agents".utf8)
        events = Array("\(namespace):events".utf8)
        byUpdate = Array("\(namespace):sessions:by_update".utf8)
        sessionPrefix = Array("\(namespace):session:".utf8)
        agentPrefix = Array("\(namespace):agent:".utf8)
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

    /// The hash of one session.
    public func session(_ id: SessionID) -> [UInt8] { sessionPrefix + Array(id.text.utf8) }

    /// The sorted set indexing an agent's sessions by start time.
    public func agentSessions(_ agentID: String) -> [UInt8] {
        agentPrefix + Array(agentID.utf8) + Array(":sessions".utf8)
    }

    /// The events channel's name as text.
    public var eventsChannel: String { "\(namespace):events" }
}
