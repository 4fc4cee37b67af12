public import Logging
import Redis
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The loop behind `opscore consume`: reads the group's entries, runs the
/// handler once per event, acknowledges what succeeded, claims what other
/// consumers left pending too long, and dead-letters what failed too often.
///
/// ``run()`` **blocks the calling thread** until ``stop()``; a stop lets the
/// running handler finish (and acknowledges it) before returning.
public final class EventConsumer: Sendable {
    /// How the consumer behaves.
    public struct Settings: Sendable {
        /// Where a new group starts.
        public var start: ConsumerGroup.Start = .now
        /// How long an entry stays pending before any consumer may claim it.
        public var claimAfter: Duration = .seconds(60)
        /// Runs of a failing handler after which the entry is dead-lettered.
        public var maxDeliveries = 10
        /// Creates the defaults.
        public init() {}
    }

    private let group: Mutex<ConsumerGroup?>
    private let settings: Settings
    private let logger: Logger
    private let handler: @Sendable (FeedEntry) -> Int32
    private let stopping = Atomic<Bool>(false)

    /// Creates a consumer.
    /// - Parameters:
    ///   - group: The consumer group member to read with (used only on the ``run()`` thread).
    ///   - settings: Start, claim and dead-letter settings.
    ///   - logger: Where progress and failures go.
    ///   - handler: Handles one event; returns 0 for success (the entry is acknowledged).
    public init(group: sending ConsumerGroup, settings: Settings, logger: Logger, handler: @escaping @Sendable (FeedEntry) -> Int32) {
        self.group = Mutex(group)
        self.settings = settings
        self.logger = logger
        self.handler = handler
    }

    /// Stops after the running handler (which is acknowledged if it succeeded). Safe from any thread.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    /// Runs until ``stop()``. Blocks.
    /// - Returns: How many events were handled successfully.
    /// - Throws: ``OpsCoreError`` `redis` when Redis cannot be reached at the start
    ///   or refuses a command; later connection losses are retried with backoff.
    @discardableResult
    public func run() throws(OpsCoreError) -> Int {
        var handled = 0
        try group.withLock { (group: inout ConsumerGroup?) throws(OpsCoreError) in
            guard let group else { return }
            for (partition, firstKept) in try group.prepare(from: settings.start) {
                logger.warning(#"{"type":"feed.gap","partition":"\#(KeySpace.partitionLabels[partition])","first_kept":"\#(firstKept)"}"#)
            }
            var lastClaim = ContinuousClock.now
            var lastLag = ContinuousClock.now - .seconds(2)
            var failures = 0
            while !stopping.load(ordering: .relaxed) {
                do throws(OpsCoreError) {
                    // Small batches: an entry waits in our hands no longer than ten handler runs,
                    // well under --claim-after, so others rarely claim what we are about to handle.
                    var entries = try group.next(count: 10, block: .seconds(1))
                    if ContinuousClock.now - lastClaim >= settings.claimAfter / 4 {
                        lastClaim = .now
                        entries += try group.claimIdle(for: settings.claimAfter)
                    }
                    if failures > 0 { logger.notice("Redis is reachable again") }
                    failures = 0
                    if ContinuousClock.now - lastLag >= .seconds(2) {
                        lastLag = .now
                        if let lag = try group.lag() { OpsCoreMetrics.recordLag(group: group.group, lag: lag) }
                    }
                    for entry in entries {
                        if try handle(entry, group: group) { handled += 1 }
                        if stopping.load(ordering: .relaxed) { break }
                    }
                } catch {
                    guard case .redis(let redisError) = error, redisError.isConnectionError else { throw error }
                    if failures == 0 { logger.warning("lost connection to Redis (\(redisError.message)); retrying") }
                    failures += 1
                    usleep(useconds_t(min(2_000, 50 << min(failures, 6)) * 1000))
                }
            }
        }
        return handled
    }

    /// Runs the handler on one entry and settles it; `true` when it succeeded.
    private func handle(_ entry: FeedEntry, group: ConsumerGroup) throws(OpsCoreError) -> Bool {
        guard !entry.payload.isEmpty else {
            try group.acknowledge([entry])  // deleted from the stream while pending: nothing to handle
            return false
        }
        let status = handler(entry)
        if status == 0 {
            try group.acknowledge([entry])
            OpsCoreMetrics.recordConsumed(group: group.group, succeeded: true, deadLettered: false)
            return true
        }
        let deliveries = try group.deliveries(of: entry)
        let isLast = deliveries >= settings.maxDeliveries
        if isLast { try group.deadLetter(entry, deliveries: deliveries, exitStatus: status) }
        OpsCoreMetrics.recordConsumed(group: group.group, succeeded: false, deadLettered: isLast)
        if isLast {
            logger.warning("handler failed \(deliveries) times; event moved to the dead-letter stream",
                           metadata: ["stream_id": "\(entry.streamID)", "exit_status": "\(status)"])
        } else {
            logger.info("handler failed; the event stays pending and is delivered again after --claim-after",
                        metadata: ["stream_id": "\(entry.streamID)", "exit_status": "\(status)", "deliveries": "\(deliveries)"])
        }
        return false
    }
}
