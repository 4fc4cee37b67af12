extension RedisConnectionPool {
    /// Sends commands that each name one key (`SADD` to 16 partitions' sets, say)
    /// and returns their replies in order. Blocks.
    ///
    /// On a single server or under Sentinel this is one pipeline. On a Cluster the
    /// commands are grouped by the primary owning their key's slot, one pipeline per
    /// primary; a command refused with a redirection (which ran nothing) is sent
    /// again alone, following it.
    /// - Parameters:
    ///   - commands: Each command with the key that routes it.
    ///   - readOnly: As for ``RedisConnection/pipeline(_:readOnly:)``.
    ///   - after: Run on each connection that got commands, after its pipeline (a `WAIT`, say).
    /// - Returns: One reply per command, error replies in place.
    public func pipeline(
        routing commands: [(key: [UInt8], command: RedisCommand)], readOnly: Bool? = nil,
        after: (RedisConnection) throws -> Void = { _ in }
    ) throws -> [RedisReply] {
        guard let router, !commands.isEmpty else {
            return try withConnection { connection in
                let replies = try connection.pipeline(commands.map(\.command), readOnly: readOnly)
                try after(connection)
                return replies
            }
        }
        let slots = commands.map { RedisHashSlot.slot(of: $0.key) }
        var groups: [RedisConfiguration.Endpoint?: [Int]] = [:]
        let map = try router.currentMap()
        for (index, slot) in slots.enumerated() { groups[map.owner(ofSlot: slot), default: []].append(index) }
        var replies = [RedisReply](repeating: .null, count: commands.count)
        for indexes in groups.values {
            let sent = try router.withConnection(slot: slots[indexes[0]]) { connection in
                let replies = try connection.pipeline(indexes.map { commands[$0].command }, readOnly: readOnly)
                try after(connection)
                return replies
            }
            for (index, reply) in zip(indexes, sent) { replies[index] = reply }
        }
        for index in replies.indices {
            guard case .error(let serverError) = replies[index], RedisClusterRedirect(serverError) != nil else { continue }
            replies[index] = try router.withConnection(slot: slots[index]) { connection in
                let reply = try connection.pipeline([commands[index].command], readOnly: readOnly)[0]
                // Thrown, so that the router follows it.
                if case .error(let refusal) = reply, RedisClusterRedirect(refusal) != nil { throw RedisError(refusal) }
                try after(connection)
                return reply
            }
        }
        return replies
    }
}

extension RedisConnectionPool {
    /// Runs `body` once on a connection to each primary: the one server (or
    /// Sentinel's primary), or every primary of a Cluster's slot map. Blocks.
    /// - Returns: Each primary's address with what `body` returned, in slot-map order.
    public func withEachPrimary<Result>(_ body: (RedisConnection) throws -> Result) throws -> [(node: RedisConfiguration.Endpoint, result: Result)] {
        guard let router else {
            let result = try withConnection(body)
            // Under Sentinel, the primary the connection just went to.
            let node = configuration.sentinel.flatMap { _ in RedisSentinelLocator.shared(for: configuration).knownPrimary }
            return [(node ?? configuration.endpoint, result)]
        }
        return try router.eachPrimary(body)
    }
}
