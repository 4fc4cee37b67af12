import Redis

extension SessionStore {
    /// The by-update score (ms since 1970, Redis time) at or before which a live
    /// session has been idle for `idle`. One round trip (`TIME`).
    public func idleCutoff(idleFor idle: Duration) throws(OpsCoreError) -> Int64 {
        let now = try run { try Self.time(try $0.send(RedisCommand("TIME"))) }
        return now.millisecondsSince1970 - idle.wholeMilliseconds
    }

    /// Members of a partition's by-update index scored at or before `cutoff`,
    /// lowest score first, as raw bytes (another tool may have written members
    /// that are no session id). One round trip.
    public func idleIndexEntries(partition: Int, atOrBefore cutoff: Int64, offset: Int, count: Int) throws(OpsCoreError) -> [[UInt8]] {
        let reply = try run(routingKey: keys.byUpdate(partition)) {
            try $0.send(RedisCommand("ZRANGEBYSCORE", keys.byUpdate(partition), "-inf", cutoff, "LIMIT", offset, count))
        }
        return (reply.array ?? []).compactMap(\.bytes)
    }

    /// Removes a member from a partition's by-update index (one naming no live session).
    func removeIdleEntry(_ member: [UInt8], partition: Int) throws(OpsCoreError) {
        try run(routingKey: keys.byUpdate(partition)) { try $0.send(RedisCommand("ZREM", keys.byUpdate(partition), member)) }
    }

    /// Removes a session from its partition's by-update index.
    func removeIdleEntry(of id: SessionID) throws(OpsCoreError) {
        try removeIdleEntry(Array(id.text.utf8), partition: KeySpace.partition(of: id))
    }

    /// Raises a session's by-update score to `milliseconds` when it is lower and the
    /// session is still indexed (`ZADD XX GT`, Redis 6.2+): a concurrent update's
    /// later score is never lowered and an ended session is never re-added.
    func raiseIdleScore(_ id: SessionID, to milliseconds: Int64) throws(OpsCoreError) {
        let key = keys.byUpdate(KeySpace.partition(of: id))
        try run(routingKey: key) { try $0.send(RedisCommand("ZADD", key, "XX", "GT", milliseconds, id.text)) }
    }
}
