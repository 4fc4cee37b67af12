import Redis

extension SessionStore {
    /// An agent's sessions, newest first, merged over the 16 partitions' indexes.
    /// Two round trips (the 16 index reads pipelined, then the hashes pipelined).
    ///
    /// Index entries whose hash is gone are skipped; a corrupt hash is reported in
    /// the listing's `corrupt` and does not hide the others.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func list(agentID: String, limit: Int) throws(OpsCoreError) -> SessionListing {
        let keys = keys
        let replies = try run { connection in
            let indexes = try connection.pipeline(KeySpace.partitions.map {
                RedisCommand("ZREVRANGE", keys.agentSessions(agentID, partition: $0), 0, limit - 1, "WITHSCORES")
            }, readOnly: true)
            var scored: [(id: SessionID, score: Double)] = []
            for reply in indexes {
                let members = try reply.throwingServerError().array ?? []
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
            if sessionIDs.isEmpty { return [(SessionID, RedisReply)]() }
            let hashes = try connection.pipeline(sessionIDs.map { RedisCommand("HGETALL", keys.session($0)) }, readOnly: true)
            return Array(zip(sessionIDs, hashes))
        }
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
