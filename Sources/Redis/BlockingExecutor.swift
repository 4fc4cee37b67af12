import Foundation

/// Threads of its own for blocking work, so that async callers never block Swift
/// concurrency's cooperative pool on a socket.
///
/// ``run(_:)`` queues a closure for one of ``threadCount`` dedicated threads
/// (started on first use) and suspends the caller until it is done. Cancellation:
/// work still waiting in the queue is dropped and the caller gets
/// `CancellationError`; work that has started runs to its end (a transaction is
/// never cut off between its round trips) and its result or error is returned.
public final class BlockingExecutor: @unchecked Sendable {
    // @unchecked Sendable: `queue`, `started`, `nextTicket` and `isShutDown` are
    // read and written only while `condition` is locked.
    private let condition = NSCondition()
    private var queue: [(ticket: Int, work: @Sendable () -> Void, cancel: @Sendable () -> Void)] = []
    private var started = 0
    private var nextTicket = 0
    private var isShutDown = false

    /// The most threads this executor runs work on at once.
    public let threadCount: Int
    private let name: String

    /// Creates an executor; its threads start when work first arrives.
    /// - Parameters:
    ///   - threads: How many threads run work (at least 1); size it to the connection pool.
    ///   - name: The threads' name, for debuggers and `top -H`.
    public init(threads: Int, name: String = "blocking-io") {
        threadCount = max(1, threads)
        self.name = name
    }

    /// Runs `work` on one of the executor's threads and returns its result.
    /// - Throws: What `work` throws; `CancellationError` when the task was cancelled
    ///   before the work started; ``RedisError`` `shutDown` after ``shutDown()``.
    public func run<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
        try Task.checkCancellation()
        let ticket = condition.withLock { () -> Int in
            nextTicket += 1
            return nextTicket
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
                let accepted = condition.withLock { () -> Bool in
                    guard !isShutDown else { return false }
                    queue.append((
                        ticket,
                        { continuation.resume(with: Swift.Result { try work() }) },
                        { continuation.resume(throwing: CancellationError()) }))
                    if started < threadCount {
                        started += 1
                        startThread()
                    }
                    condition.signal()
                    return true
                }
                if !accepted { continuation.resume(throwing: RedisError(.shutDown, "the blocking executor is shut down")) }
            }
        } onCancel: {
            let dropped = condition.withLock { () -> (@Sendable () -> Void)? in
                guard let index = queue.firstIndex(where: { $0.ticket == ticket }) else { return nil }
                return queue.remove(at: index).cancel
            }
            dropped?()
        }
    }

    /// Stops taking work; queued work is cancelled, running work finishes, and the
    /// threads end once idle.
    public func shutDown() {
        let dropped = condition.withLock { () -> [@Sendable () -> Void] in
            isShutDown = true
            defer { queue.removeAll() }
            condition.broadcast()
            return queue.map(\.cancel)
        }
        dropped.forEach { $0() }
    }

    private func startThread() {
        let thread = Thread { [self] in
            while true {
                condition.lock()
                while queue.isEmpty && !isShutDown { condition.wait() }
                if queue.isEmpty {
                    condition.unlock()
                    return
                }
                let job = queue.removeFirst()
                condition.unlock()
                job.work()
            }
        }
        thread.name = name
        thread.start()
    }
}
