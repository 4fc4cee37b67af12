public import Logging
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The long-running worker behind `opscore worker`.
///
/// Reads request lines from a file descriptor, applies up to `concurrency` of
/// them at once (each on a thread of its own, since every request blocks on
/// Redis), writes one reply line per request, and optionally sweeps idle sessions
/// to `expired` on a timer. ``run()`` blocks until the input ends or ``stop()``
/// is called, then finishes the requests already queued and returns; after a
/// ``stop()`` it waits for them at most `drainTimeout`, so a worker whose
/// reader stopped reading (every reply write blocked) still returns.
public final class SessionWorker: Sendable {
    /// How a run ended.
    public struct Summary: Sendable, Hashable {
        /// Requests answered.
        public var handled: Int
        /// `false` when ``stop()`` was called and requests were still in flight
        /// (or replies unwritten) when the drain timeout ran out.
        public var drained: Bool
    }

    private let handler: WorkerRequestHandler
    private let concurrency: Int
    private let expireAfter: Duration?
    private let sweepInterval: Duration
    private let drainTimeout: Duration
    private let input: Int32
    private let output: Int32
    private let logger: Logger
    private let queue: RequestQueue
    private let stopping = Atomic<Bool>(false)
    private let stopRequested = Mutex<ContinuousClock.Instant?>(nil)
    private let outputLock = Mutex<Void>(())
    private let redisDown = Mutex<Bool>(false)

    /// Creates a worker.
    /// - Parameters:
    ///   - lifecycle: Where requests go.
    ///   - concurrency: Requests in flight at once (replies may come out of order; `id` ties them).
    ///   - expireAfter: Idle time after which live sessions are expired; `nil` for no sweeping.
    ///   - sweepInterval: Pause between sweeps.
    ///   - drainTimeout: After ``stop()``, how long ``run()`` waits for requests in flight.
    ///   - input: The descriptor to read request lines from (stdin by default).
    ///   - output: The descriptor to write reply lines to (stdout by default).
    ///   - logger: Where outages and sweeps are reported.
    public init(
        lifecycle: SessionLifecycle, concurrency: Int, expireAfter: Duration? = nil, sweepInterval: Duration = .seconds(5),
        drainTimeout: Duration = .seconds(10), input: Int32 = 0, output: Int32 = 1, logger: Logger
    ) {
        handler = WorkerRequestHandler(lifecycle: lifecycle)
        self.concurrency = max(1, concurrency)
        queue = RequestQueue(capacity: self.concurrency * 2)
        self.expireAfter = expireAfter
        self.sweepInterval = sweepInterval
        self.drainTimeout = drainTimeout
        self.input = input
        self.output = output
        self.logger = logger
    }

    /// Stops reading input at once; ``run()`` finishes the requests already queued,
    /// waiting at most the drain timeout, and returns. A line read only in part is
    /// not answered. Safe from any thread; later calls change nothing.
    public func stop() {
        stopRequested.withLock { if $0 == nil { $0 = .now } }
        stopping.store(true, ordering: .relaxed)
        queue.close()
    }

    /// Runs until end of input or ``stop()``. Blocks the calling thread.
    /// - Returns: How many requests were answered, and whether all were.
    @discardableResult
    public func run() -> Summary {
        let handled = Atomic<Int>(0)
        let finished = DispatchGroup()
        for index in 0..<concurrency {
            finished.enter()
            let thread = Thread { [self] in
                while let line = queue.take() {
                    respond(to: line)
                    handled.add(1, ordering: .relaxed)
                }
                finished.leave()
            }
            thread.name = "opscore-worker-\(index)"
            thread.start()
        }
        let sweeperDone = DispatchSemaphore(value: 0)
        if let expireAfter {
            let thread = Thread { [self] in
                sweep(expireAfter: expireAfter)
                sweeperDone.signal()
            }
            thread.name = "opscore-sweeper"
            thread.start()
        }
        logger.info("worker started", metadata: ["concurrency": "\(concurrency)"])
        readLines { queue.put($0) }
        queue.close()
        var drained = waitUntilDrained { finished.wait(timeout: .now() + .milliseconds(50)) == .success }
        stopping.store(true, ordering: .relaxed)
        if expireAfter != nil {
            drained = waitUntilDrained { sweeperDone.wait(timeout: .now() + .milliseconds(50)) == .success } && drained
        }
        let total = handled.load(ordering: .relaxed)
        if drained {
            logger.info("worker finished", metadata: ["requests": "\(total)"])
        } else {
            logger.warning("drain timeout reached with requests still in flight; stopping without their replies", metadata: ["requests": "\(total)"])
        }
        return Summary(handled: total, drained: drained)
    }

    /// Polls `isDone` until it is true (returns `true`) or the drain timeout after
    /// ``stop()`` has passed (returns `false`). Without a stop it waits as long as it takes.
    private func waitUntilDrained(_ isDone: () -> Bool) -> Bool {
        while !isDone() {
            if let since = stopRequested.withLock({ $0 }), ContinuousClock.now - since >= drainTimeout { return false }
        }
        return true
    }

    private func respond(to line: [UInt8]) {
        let outcome = handler.reply(to: line)
        let written = outputLock.withLock { _ in LineOutput.write(outcome.line, to: output) }
        if !written && !stopping.load(ordering: .relaxed) {
            logger.warning("cannot write replies (reader gone?); stopping")
            stop()
        }
        noteHealth(errorCode: outcome.errorCode)
    }

    private func noteHealth(errorCode: String?) {
        let isRedisFailure = errorCode == "redis_unavailable" || errorCode == "redis_timeout"
        let changed = redisDown.withLock { down -> Bool in
            defer { down = isRedisFailure }
            return down != isRedisFailure && (isRedisFailure || errorCode == nil)
        }
        guard changed else { return }
        if isRedisFailure {
            logger.warning("Redis is unavailable; requests are failing with \(errorCode ?? "an error") until it is back")
        } else {
            logger.notice("Redis is reachable again")
        }
    }

    private func sweep(expireAfter: Duration) {
        var wasFailing = false
        while !stopping.load(ordering: .relaxed) {
            do {
                let report = try handler.lifecycle.expireIdleSessions(idleFor: expireAfter)
                if !report.expired.isEmpty { logger.info("expired idle sessions", metadata: ["count": "\(report.expired.count)"]) }
                if report.removedEntries + report.rescoredEntries > 0 {
                    logger.info("idle index repaired", metadata: ["removed": "\(report.removedEntries)", "rescored": "\(report.rescoredEntries)"])
                }
                if let failure = report.failures.first {
                    if !wasFailing { logger.warning("idle sweep skipped \(report.failures.count) session(s); first: \(failure.sessionID): \(failure.error)") }
                    wasFailing = true
                } else {
                    if wasFailing { logger.notice("idle sweep works again") }
                    wasFailing = false
                }
            } catch {
                if !wasFailing { logger.warning("idle sweep failed: \(error)") }
                wasFailing = true
            }
            var waited = Duration.zero
            while waited < sweepInterval && !stopping.load(ordering: .relaxed) {
                usleep(50_000)
                waited += .milliseconds(50)
            }
        }
    }

    /// Reads lines until end of input or stop, polling so that stop is noticed promptly.
    ///
    /// A line is kept only up to one byte past ``WorkerRequest/maximumLineBytes``;
    /// the request parser refuses such a line by its length.
    private func readLines(_ deliver: ([UInt8]) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        func keep(_ bytes: ArraySlice<UInt8>) {
            pending.append(contentsOf: bytes.prefix(max(0, WorkerRequest.maximumLineBytes + 1 - pending.count)))
        }
        while !stopping.load(ordering: .relaxed) {
            var descriptor = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 200)
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            var start = 0
            for index in 0..<count where buffer[index] == UInt8(ascii: "\n") {
                keep(buffer[start..<index])
                deliverLine(&pending, deliver)
                start = index + 1
            }
            keep(buffer[start..<count])
        }
        // At end of input the last line needs no newline; a line cut short by a stop is dropped.
        if !stopping.load(ordering: .relaxed) {
            deliverLine(&pending, deliver)
        }
    }

    private func deliverLine(_ pending: inout [UInt8], _ deliver: ([UInt8]) -> Void) {
        defer { pending.removeAll(keepingCapacity: true) }
        if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
        if pending.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { return }
        deliver(pending)
    }
}
