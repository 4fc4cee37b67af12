import Foundation

/// A task executor with a few threads of its own, standing in for a service's
/// event-loop threads: tasks run with ``withTaskExecutorPreference(_:operation:)``
/// on it share nothing with other tests, so a test can tell whether *its* tasks'
/// threads were ever blocked.
public final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs` and `stopped` are used only under `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    /// Starts `threads` threads that run the jobs enqueued on this executor.
    public init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in runJobs() }
            thread.name = "task-executor-\(index)"
            thread.start()
        }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.withLock {
            jobs.append(unowned)
            condition.signal()
        }
    }

    /// Lets the threads end once the queue is empty.
    public func shutDown() {
        condition.withLock {
            stopped = true
            condition.broadcast()
        }
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
