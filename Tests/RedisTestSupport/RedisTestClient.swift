public import Redis

/// A blocking client that reads and prepares test state the way `redis-cli` (with
/// `-c` on a Cluster) does: one connection to a single server, or, on a Cluster,
/// each command sent to the primary owning its key. Use on one thread.
///
/// On a Cluster, keyless commands (`MULTI`, `EXEC`, `PUBLISH`, `TIME`…) go to the
/// node of the last key used, so a raw transaction stays on one connection;
/// `KEYS` asks every primary and joins their answers, and `ACL` changes every primary.
public final class RedisTestClient {
    private let connection: RedisConnection?
    private let pool: RedisConnectionPool?
    private var lastKey: [UInt8]?

    /// Commands whose first argument is not a key.
    private static let keyless: Set<String> = [
        "ACL", "CLIENT", "CLUSTER", "CONFIG", "DBSIZE", "DEBUG", "DISCARD", "EXEC", "INFO", "KEYS", "MULTI",
        "PING", "PUBLISH", "PUBSUB", "SCAN", "SELECT", "TIME", "UNWATCH",
    ]

    /// Connects to the server, or prepares a pool routing by key on a Cluster.
    public init(configuration: RedisConfiguration) throws {
        if configuration.cluster != nil {
            pool = RedisConnectionPool(configuration: configuration, size: 1)
            connection = nil
        } else {
            connection = try RedisConnection(configuration: configuration)
            pool = nil
        }
    }

    deinit { pool?.close() }

    /// Sends one command and returns its reply; an error reply is thrown.
    @discardableResult
    public func send(_ command: RedisCommand) throws -> RedisReply {
        guard let pool else { return try connection!.send(command) }
        switch command.name {
        case "KEYS":
            let answers = try pool.withEachPrimary { try $0.send(command).array ?? [] }
            return .array(answers.flatMap(\.result))
        case "ACL":
            // Users live on each node: a test's user must exist wherever its keys are.
            return try pool.withEachPrimary { try $0.send(command) }.first!.result
        default:
            break
        }
        return try routed(pool, key: routingKey(of: command)) { try $0.send(command) }
    }

    /// Sends one command built from a name and arguments.
    @discardableResult
    public func send(_ name: String, _ arguments: any RedisArgument...) throws -> RedisReply {
        try send(RedisCommand(name, arguments))
    }

    /// Sends the commands in one write and returns their replies in order (error
    /// replies in place). On a Cluster they go to the node of their first key.
    public func pipeline(_ commands: [RedisCommand]) throws -> [RedisReply] {
        guard let pool else { return try connection!.pipeline(commands) }
        return try routed(pool, key: commands.lazy.compactMap(routingKey).first) { try $0.pipeline(commands) }
    }

    /// `HGETALL key` as text fields, decoded leniently (invalid UTF-8 is repaired).
    public func hashFields(_ key: String) throws -> [String: String] {
        let elements = try send(RedisCommand("HGETALL", key)).array ?? []
        var fields: [String: String] = [:]
        var index = 0
        while index + 1 < elements.count {
            fields[String(decoding: elements[index].bytes ?? [], as: UTF8.self)] =
                String(decoding: elements[index + 1].bytes ?? [], as: UTF8.self)
            index += 2
        }
        return fields
    }

    private func routingKey(of command: RedisCommand) -> [UInt8]? {
        Self.keyless.contains(command.name) ? nil : command.firstArgument
    }

    private func routed<Result>(_ pool: RedisConnectionPool, key: [UInt8]?, _ body: (RedisConnection) throws -> Result) throws -> Result {
        if let key { lastKey = key }
        guard let target = key ?? lastKey else { return try pool.withConnection(body) }
        return try pool.withConnection(routingKeys: [target], body)
    }
}
