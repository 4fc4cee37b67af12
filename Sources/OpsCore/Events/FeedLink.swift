import Redis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a feed reader reaches the 16 streams: one connection of its own (a single
/// server or Sentinel's primary), or a Cluster's primaries through a pool of one
/// connection per primary.
///
/// On a Cluster a command may name keys of one slot only, so the streams are read
/// with one `XREAD` per partition, pipelined per primary, without `BLOCK`; an idle
/// reader polls every 25 ms until the block time has passed.
enum FeedLink {
    case connection(RedisConnection)
    case cluster(RedisConnectionPool)

    /// Opens the link: a new connection, or the Cluster pool (slot map read on first use).
    static func open(_ configuration: RedisConfiguration) throws(RedisError) -> FeedLink {
        guard configuration.cluster != nil else { return .connection(try RedisConnection(configuration: configuration)) }
        return .cluster(RedisConnectionPool(configuration: configuration, size: 1))
    }

    /// Whether the link must be opened again (its connection failed or leads to a former primary).
    var isBroken: Bool {
        switch self {
        case .connection(let connection): connection.isBroken
        case .cluster: false
        }
    }

    /// A keyless command (`TIME`), on any node.
    func send(_ command: RedisCommand) throws(RedisError) -> RedisReply {
        switch self {
        case .connection(let connection):
            return try connection.send(command)
        case .cluster(let pool):
            return try RedisError.rethrowing { try pool.withConnection { try $0.send(command) } }
        }
    }

    /// One command per partition, each with the key that routes it; error replies in place.
    func perPartition(_ commands: [(key: [UInt8], command: RedisCommand)]) throws(RedisError) -> [RedisReply] {
        switch self {
        case .connection(let connection):
            return try connection.pipeline(commands.map(\.command), readOnly: true)
        case .cluster(let pool):
            return try RedisError.rethrowing { try pool.pipeline(routing: commands, readOnly: true) }
        }
    }

    /// A stream read, `XREAD` or `XREADGROUP` (`name`), of `streams` after `ids` (one
    /// per stream); `options` go before `STREAMS` (`COUNT`, `GROUP` …). On a connection
    /// it is one command over every stream, with `BLOCK` when `block` is set. On a
    /// Cluster it is one command per stream without `BLOCK`, pipelined per primary and
    /// polled every 25 ms until one returns entries or `block` has passed. An error
    /// reply is thrown. Returns (stream key, entries) pairs.
    func read(
        _ name: String, options: [any RedisArgument], streams: [[UInt8]], ids: [String], block: Duration?
    ) throws(RedisError) -> [(key: [UInt8], entries: [StreamReplies.Entry])] {
        switch self {
        case .connection(let connection):
            var arguments = options
            if let block { arguments += ["BLOCK", max(1, block.wholeMilliseconds)] }
            arguments.append("STREAMS")
            arguments += streams
            arguments += ids
            return StreamReplies.entries(try connection.send(RedisCommand(name, arguments)))
        case .cluster:
            return try poll(zip(streams, ids).map { stream, id in
                (key: stream, command: RedisCommand(name, options + ["STREAMS", stream, id]))
            }, block: block ?? .zero)
        }
    }

    /// Sends the reads every 25 ms until one returns entries or `block` has passed.
    private func poll(_ reads: [(key: [UInt8], command: RedisCommand)], block: Duration) throws(RedisError) -> [(key: [UInt8], entries: [StreamReplies.Entry])] {
        let deadline = ContinuousClock.now + block
        while true {
            var found: [(key: [UInt8], entries: [StreamReplies.Entry])] = []
            for reply in try perPartition(reads) {
                _ = try reply.throwingServerError()
                found += StreamReplies.entries(reply).filter { !$0.entries.isEmpty }
            }
            if !found.isEmpty || ContinuousClock.now >= deadline { return found }
            usleep(25_000)
        }
    }

    /// Lends the connection that owns `key`'s slot (a transaction on one partition, say).
    func withConnection<Result>(routingKey key: [UInt8], _ body: (RedisConnection) throws -> Result) throws -> Result {
        switch self {
        case .connection(let connection): return try body(connection)
        case .cluster(let pool): return try pool.withConnection(routingKeys: [key], body)
        }
    }
}
