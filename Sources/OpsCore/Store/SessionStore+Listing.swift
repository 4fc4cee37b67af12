import Redis

extension SessionStore {
    /// An agent's sessions, newest first, merged over the 16 partitions' indexes.
    /// Two round trips (the 16 index reads pipelined, then the hashes pipelined;
    /// on a Cluster, one pipeline per primary each time).
    ///
    /// Index entries whose hash is gone are skipped; a corrupt hash is reported in
    /// the listing's `corrupt` and does not hide the others.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func list(agentID: String, limit: Int) throws(OpsCoreError) -> SessionListing {
        let keys = keys
        let indexes = try pool.opsPipeline(routing: KeySpace.partitions.map { partition in
            let key = keys.agentSessions(agentID, partition: partition)
            return (key, RedisCommand("ZREVRANGE", key, 0, limit - 1, "WITHSCORES"))
        }, readOnly: true)
        var scored: [(id: SessionID, score: Double)] = []
        for reply in indexes {
            let members: [RedisReply]
            do { members = try reply.throwingServerError().array ?? [] } catch { throw .redis(error) }
            var index = 0
            while index + 1 < members.count {
                if let id = members[index].text.flatMap(SessionID.init), let score = members[index + 1].text.flatMap(Double.init) {
                    scored.append((id, score))
                }
                index += 2
            }
        }
        // Newest first over all partitions; ties by id, so the order is stable.
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.id.text > $1.id.text }
        let sessionIDs = scored.prefix(limit).map(\.id)
        let hashes = sessionIDs.isEmpty ? [] : try pool.opsPipeline(routing: sessionIDs.map { id in
            (keys.session(id), RedisCommand("HGETALL", keys.session(id)))
        }, readOnly: true)
        let replies = Array(zip(sessionIDs, hashes))
        var listing = SessionListing(sessions: [])
        for (id, hash) in replies {
            do {
                if let session = try SessionHash.decode(hash, key: keys.session(id)) { listing.sessions.append(session) }
            } catch .corruptSession(let key, let field, let reason) {
                listing.corrupt.append(.corruptSession(key: key, field: field, reason: reason))
            }
        }
        return listing
    }
}
