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

    /// `XREAD` of `streams` after `positions`: one blocking command on a connection;
    /// on a Cluster, one per stream pipelined per primary, polled until `block` passed.
    /// Returns (stream key, entries) pairs.
    func read(streams: [[UInt8]], after positions: [StreamID], count: Int, block: Duration) throws(RedisError) -> [(key: [UInt8], entries: [StreamReplies.Entry])] {
        switch self {
        case .connection(let connection):
            var arguments: [any RedisArgument] = ["COUNT", count, "BLOCK", max(1, block.wholeMilliseconds), "STREAMS"]
            arguments += streams
            arguments += positions.map(\.description)
            return StreamReplies.entries(try connection.send(RedisCommand("XREAD", arguments)))
        case .cluster:
            return try poll(zip(streams, positions).map { stream, position in
                (key: stream, command: RedisCommand("XREAD", "COUNT", count, "STREAMS", stream, position.description))
            }, block: block)
        }
    }

    /// Sends one stream read per partition (`XREAD`/`XREADGROUP` without `BLOCK`) every
    /// 25 ms until one returns entries or `block` has passed. An error reply is thrown.
    func poll(_ reads: [(key: [UInt8], command: RedisCommand)], block: Duration) throws(RedisError) -> [(key: [UInt8], entries: [StreamReplies.Entry])] {
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
