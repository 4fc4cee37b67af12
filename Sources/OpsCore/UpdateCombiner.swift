import Foundation

/// Coalesces concurrent updates of one session inside this process.
///
/// The first caller for a session becomes its leader and applies every update
/// queued for that session meanwhile in one WATCH/MULTI/EXEC (each update still
/// gets its own version and event). When it is done, leadership passes to the
/// oldest waiting caller, if any, so no caller serves others for long. Callers
/// block their own threads while they wait.
final class UpdateCombiner: @unchecked Sendable {
    // @unchecked Sendable: `queues` is only touched while `lock` is held; a
    // pending update's result is written before its semaphore is signalled and
    // read only after the wait returns.
    final class Pending: @unchecked Sendable {
        let update: SessionUpdate
        var result: Result<Session, OpsCoreError>?
        var leads = false
        /// Made, under the combiner's lock, only for callers that wait.
        var signal: DispatchSemaphore?

        init(_ update: SessionUpdate) { self.update = update }
    }

    private struct Queue {
        var waiting: [Pending] = []
        var busy = false
    }

    private let lock = NSLock()
    private var queues: [SessionID: Queue] = [:]
    /// The most updates applied in one transaction.
    let batchLimit: Int

    init(batchLimit: Int = 64) {
        self.batchLimit = batchLimit
    }

    /// Applies `update`, alone or together with concurrent updates of the same session.
    /// - Parameter apply: Applies a batch in order and sets every member's result.
    func submit(_ id: SessionID, _ update: SessionUpdate, apply: ([Pending]) -> Void) throws(OpsCoreError) -> Session {
        let mine = Pending(update)
        let leadsNow: Bool = lock.withLock {
            var queue = queues[id, default: Queue()]
            queue.waiting.append(mine)
            let leads = !queue.busy
            queue.busy = true
            if !leads { mine.signal = DispatchSemaphore(value: 0) }
            queues[id] = queue
            return leads
        }
        if !leadsNow {
            mine.signal!.wait()
            if !mine.leads { return try mine.result!.get() }
        }
        // Lead one batch (which includes `mine`, the oldest waiting), then hand over.
        let batch: [Pending] = lock.withLock {
            let waiting = queues[id]!.waiting
            let taken = Array(waiting.prefix(batchLimit))
            queues[id]!.waiting.removeFirst(taken.count)
            return taken
        }
        apply(batch)
        let next: Pending? = lock.withLock {
            if let first = queues[id]?.waiting.first {
                return first
            }
            queues[id] = nil
            return nil
        }
        for member in batch where member !== mine { member.signal!.signal() }
        if let next {
            next.leads = true
            next.signal!.signal()
        }
        return try mine.result!.get()
    }
}
