extension SessionLifecycle {
    /// Applies a batch of updates of one session in one transaction, in order,
    /// and sets each member's result: its own refusal, or the session at its version.
    func apply(_ batch: [UpdateCombiner.Pending], to id: SessionID) {
        var outcomes: [Result<Session, OpsCoreError>?] = []
        do throws(OpsCoreError) {
            _ = try store.modify(id) { current, now throws(OpsCoreError) in
                outcomes = Array(repeating: nil, count: batch.count)
                var combined: SessionChange?
                var session = current
                for (index, member) in batch.enumerated() {
                    do throws(OpsCoreError) {
                        let change = try plan(member.update, of: session, at: now)
                        session = change.session
                        outcomes[index] = .success(change.session)
                        if combined == nil { combined = change } else { combined!.append(change) }
                    } catch {
                        outcomes[index] = .failure(error)
                    }
                }
                return combined
            }
            for (index, member) in batch.enumerated() { member.result = outcomes[index] }
        } catch {
            for member in batch { member.result = .failure(error) }
        }
    }

    /// The committed form of one update of `current`, or why it is refused.
    ///
    /// Every update bumps `version` and refreshes `last_updated_time` (it is also the
    /// heartbeat); `status` and `metadata` are written, and named in the event's
    /// `changed`, only when their value changes.
    private func plan(_ update: SessionUpdate, of current: Session, at now: Timestamp) throws(OpsCoreError) -> SessionChange {
        if let expected = update.expectedVersion, expected != current.version {
            throw .versionMismatch(expected: expected, actual: current.version)
        }
        var next = current
        var changed: [String] = []
        var metadataBytes: [UInt8]?
        if let status = update.status {
            guard current.status.canTransition(to: status) else {
                throw .invalidTransition(from: current.status, to: status)
            }
            next.status = status
            if status != current.status { changed.append(SessionHash.status) }
        } else if current.status.isFinal {
            throw .invalidTransition(from: current.status, to: current.status)
        }
        if let patch = update.metadataPatch {
            guard case .object(let merged) = JSONValue.object(current.metadata).merging(patch: .object(patch)) else {
                throw .invalidInput(field: "metadata", reason: "merge did not produce an object")
            }
            if merged != current.metadata {
                metadataBytes = try SessionValidation.serializedMetadata(merged)
                next.metadata = merged
                changed.append(SessionHash.metadata)
            }
        }
        var planned = change(from: current, to: next, changed: changed, at: now, kind: next.status.isEnding ? .ended : .updated)
        planned.metadataBytes = metadataBytes
        return planned
    }
}
