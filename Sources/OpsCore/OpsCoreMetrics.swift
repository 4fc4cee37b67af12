import CoreMetrics
import Synchronization

/// The metrics OpsCore reports through swift-metrics. Nothing is recorded until a
/// program bootstraps a backend (`opscore worker --metrics-port` bootstraps
/// swift-prometheus); names follow Prometheus conventions.
public enum OpsCoreMetrics {
    /// Every metric name, for documentation and tests.
    public static let names = [
        requests, requestDuration, watchAborts, conflicts, unknownOutcomes, sessionsExpired,
        eventsConsumed, eventsFailed, eventsDeadLettered, consumerLag,
        "opscore_redis_reconnects_total", "opscore_redis_failovers_total",
    ]

    static let requests = "opscore_requests_total"
    static let requestDuration = "opscore_request_duration_seconds"
    static let watchAborts = "opscore_watch_aborts_total"
    static let conflicts = "opscore_transaction_conflicts_total"
    static let unknownOutcomes = "opscore_unknown_outcomes_total"
    static let sessionsExpired = "opscore_sessions_expired_total"
    static let eventsConsumed = "opscore_events_consumed_total"
    static let eventsFailed = "opscore_events_failed_total"
    static let eventsDeadLettered = "opscore_events_dead_lettered_total"
    static let consumerLag = "opscore_consumer_lag"

    /// One worker request: `opscore_requests_total{op,outcome}` (outcome `ok` or the
    /// error code) and `opscore_request_duration_seconds{op}`.
    static func request(operation: String, outcome: String, duration: Duration) {
        let (counter, timer) = requestMetrics.withLock { made -> (Counter, Timer) in
            let counter = made.counters["\(operation) \(outcome)"] ?? {
                let fresh = Counter(label: requests, dimensions: [("op", operation), ("outcome", outcome)])
                made.counters["\(operation) \(outcome)"] = fresh
                return fresh
            }()
            let timer = made.timers[operation] ?? {
                let fresh = Timer(label: requestDuration, dimensions: [("op", operation)])
                made.timers[operation] = fresh
                return fresh
            }()
            return (counter, timer)
        }
        counter.increment()
        timer.recordNanoseconds(duration.wholeNanoseconds)
    }

    /// The request metrics made so far, so that a request does not make its handlers
    /// anew (made on first use: after the backend was bootstrapped).
    private static let requestMetrics = Mutex<(counters: [String: Counter], timers: [String: Timer])>(([:], [:]))

    /// Attempts aborted by a concurrent write (each is retried unless it was the last).
    static func recordWatchAborts(_ count: Int) {
        guard count > 0 else { return }
        Counter(label: watchAborts).increment(by: Int64(count))
    }

    /// A change given up after every attempt was aborted.
    static func recordConflict() { Counter(label: conflicts).increment() }

    /// A commit whose outcome is unknown (the connection broke after `EXEC` was sent).
    static func recordUnknownOutcome() { Counter(label: unknownOutcomes).increment() }

    /// Sessions the idle sweep expired.
    static func recordExpired(_ count: Int) {
        guard count > 0 else { return }
        Counter(label: sessionsExpired).increment(by: Int64(count))
    }

    /// One event through `consume`'s handler: succeeded, failed, or failed for the last time (dead-lettered).
    static func recordConsumed(group: String, succeeded: Bool, deadLettered: Bool) {
        let label = succeeded ? eventsConsumed : deadLettered ? eventsDeadLettered : eventsFailed
        Counter(label: label, dimensions: [("group", group)]).increment()
    }

    /// Entries of the 16 streams the group has not read yet.
    static func recordLag(group: String, lag: Int) {
        Gauge(label: consumerLag, dimensions: [("group", group)]).record(Int64(lag))
    }
}

extension Duration {
    /// The duration in whole nanoseconds (saturating).
    var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product + attoseconds / 1_000_000_000
    }
}
