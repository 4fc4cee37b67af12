import Logging

extension SessionLifecycle {
    /// Moves live sessions idle for at least `idle` to `expired`, each with a
    /// `session.expired` event. Candidates come from the by-update index (no
    /// keyspace scan); each is re-checked under WATCH, so several sweepers on
    /// several hosts expire each session exactly once.
    /// - Parameters:
    ///   - idle: How long without an update makes a session idle.
    ///   - limit: The most sessions examined in this sweep.
    /// - Returns: The sessions this call expired.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func expireIdleSessions(idleFor idle: Duration, limit: Int = 100) throws(OpsCoreError) -> [Session] {
        let idleMilliseconds = idle.components.seconds * 1000 + idle.components.attoseconds / 1_000_000_000_000_000
        var expired: [Session] = []
        for id in try store.idleCandidates(idleFor: idle, limit: limit) {
            var didExpire = false
            var isFrozen = false
            do {
                let session = try store.modify(id) { current, now throws(OpsCoreError) in
                    didExpire = false
                    isFrozen = current.status.isFinal
                    guard !current.status.isFinal,
                          now.millisecondsSince1970 - current.lastUpdatedTime.millisecondsSince1970 >= idleMilliseconds
                    else { return nil }
                    var next = current
                    next.status = .expired
                    didExpire = true
                    return self.change(from: current, to: next, changed: [SessionHash.status], at: now, kind: .expired)
                }
                if didExpire { expired.append(session) }
                // A frozen session left in the idle index (e.g. written by another tool)
                // is dropped from it so that it does not hold the head of the index.
                if isFrozen { try store.forgetIdle(id) }
            } catch .sessionNotFound {
                try store.forgetIdle(id)
            } catch .corruptSession(let key, let field, _) {
                // A corrupt hash cannot be expired; drop it from the idle index so it
                // does not hold the head of the index for ever. It stays readable as corrupt.
                logger.debug("idle sweep skipped a corrupt session", metadata: ["key": "\(key)", "field": "\(field)"])
                try store.forgetIdle(id)
            }
            if didExpire { logger.debug("session expired", metadata: ["session_id": "\(id)"]) }
        }
        return expired
    }
}
