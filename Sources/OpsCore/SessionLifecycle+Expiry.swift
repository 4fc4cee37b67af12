import Logging
import Redis

extension SessionLifecycle {
    /// Moves live sessions idle for at least `idle` to `expired`, each with a
    /// `session.expired` event. Candidates come from the by-update index (no
    /// keyspace scan); each is re-checked under WATCH, so several sweepers on
    /// several hosts expire each session exactly once.
    ///
    /// One pass walks, partition by partition, every index entry scored at or
    /// before the cutoff, in batches, so entries that are not live sessions
    /// cannot stall it: members that are no session id, or name a missing, frozen
    /// or corrupt session, are removed from the index; an entry scored older than its session's
    /// `last_updated_time` gets that time as its score. A candidate that fails is
    /// reported and skipped; the pass goes on. A Redis outage ends the pass with
    /// what it did so far.
    /// - Parameters:
    ///   - idle: How long without an update makes a session idle.
    ///   - limit: The most sessions expired in this pass.
    ///   - batchSize: Index entries read per round trip.
    /// - Returns: What the pass did.
    /// - Throws: ``OpsCoreError`` `redis` only when the cutoff could not be read.
    public func expireIdleSessions(idleFor idle: Duration, limit: Int = 1000, batchSize: Int = 200) throws(OpsCoreError) -> IdleSweepReport {
        let cutoff = try store.idleCutoff(idleFor: idle)
        var report = IdleSweepReport()
        for partition in KeySpace.partitions where report.expired.count < limit {
            if !sweep(partition: partition, cutoff: cutoff, idle: idle, limit: limit, batchSize: batchSize, into: &report) { break }
        }
        OpsCoreMetrics.recordExpired(report.expired.count)
        return report
    }

    /// Sweeps one partition's index; returns `false` when Redis is out and the pass should end.
    private func sweep(partition: Int, cutoff: Int64, idle: Duration, limit: Int, batchSize: Int, into report: inout IdleSweepReport) -> Bool {
        var seen = Set<[UInt8]>()
        var offset = 0
        while report.expired.count < limit {
            let entries: [[UInt8]]
            do {
                entries = try store.idleIndexEntries(partition: partition, atOrBefore: cutoff, offset: offset, count: max(1, batchSize))
            } catch {
                logger.debug("idle sweep could not read the index", metadata: ["partition": "\(partition)", "error": "\(error)"])
                return false
            }
            // Entries this pass has handled leave the index or move past the cutoff;
            // those still in place (failed, or seen twice) are skipped by the offset.
            var stillInPlace = 0
            for member in entries {
                guard seen.insert(member).inserted else {
                    stillInPlace += 1
                    continue
                }
                guard let id = SessionID(String(decoding: member, as: UTF8.self)), id.text.utf8.elementsEqual(member) else {
                    if (try? store.removeIdleEntry(member, partition: partition)) != nil { report.removedEntries += 1 } else { stillInPlace += 1 }
                    continue
                }
                do {
                    try sweep(id, idle: idle, into: &report)
                } catch {
                    report.failures.append(.init(sessionID: id, error: error))
                    stillInPlace += 1
                    if error.isOutage { return false }
                }
                if report.expired.count >= limit { return true }
            }
            if entries.count < batchSize { return true }
            offset += stillInPlace
        }
        return true
    }

    /// Expires one candidate, or removes or re-scores its index entry.
    private func sweep(_ id: SessionID, idle: Duration, into report: inout IdleSweepReport) throws(OpsCoreError) {
        let idleMilliseconds = idle.wholeMilliseconds
        enum Finding { case expired, frozen, notIdle(lastUpdate: Int64) }
        var finding = Finding.frozen
        let session: Session
        do {
            session = try store.modify(id) { current, now throws(OpsCoreError) in
                if current.status.isFinal {
                    finding = .frozen
                    return nil
                }
                let lastUpdate = current.lastUpdatedTime.millisecondsSince1970
                guard now.millisecondsSince1970 - lastUpdate >= idleMilliseconds else {
                    finding = .notIdle(lastUpdate: lastUpdate)
                    return nil
                }
                var next = current
                next.status = .expired
                finding = .expired
                return self.change(from: current, to: next, changed: [SessionHash.status], at: now, kind: .expired)
            }
        } catch .sessionNotFound {
            try store.removeIdleEntry(of: id)
            report.removedEntries += 1
            return
        } catch .corruptSession(let key, let field, _) {
            // A corrupt hash cannot be expired; it stays readable as corrupt but leaves the index.
            logger.debug("idle sweep dropped a corrupt session from the index", metadata: ["key": "\(key)", "field": "\(field)"])
            try store.removeIdleEntry(of: id)
            report.removedEntries += 1
            return
        }
        switch finding {
        case .expired:
            report.expired.append(session)
            logger.debug("session expired", metadata: ["session_id": "\(id)"])
        case .frozen:
            try store.removeIdleEntry(of: id)
            report.removedEntries += 1
        case .notIdle(let lastUpdate):
            try store.raiseIdleScore(id, to: lastUpdate)
            report.rescoredEntries += 1
        }
    }
}

extension OpsCoreError {
    /// `true` when Redis itself could not be reached or answered too late.
    var isOutage: Bool {
        guard case .redis(let error) = self else { return false }
        return error.kind == .timeout || error.isConnectionError
    }
}
