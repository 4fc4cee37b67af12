#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How often, and with what pause, an aborted WATCH/MULTI/EXEC transaction is tried again.
///
/// The pause before attempt *n* is a random time between zero and
/// `min(maximumDelay, baseDelay × 2ⁿ)` ("full jitter"), so that writers that
/// collided once spread out instead of colliding again.
public struct RedisRetryPolicy: Sendable, Hashable {
    /// The most attempts, the first included.
    public var maxAttempts: Int
    /// The pause bound after the first aborted attempt.
    public var baseDelay: Duration
    /// The largest pause bound.
    public var maximumDelay: Duration

    /// Creates a policy.
    public init(maxAttempts: Int = 1_000, baseDelay: Duration = .microseconds(50), maximumDelay: Duration = .milliseconds(20)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
    }

    /// The default: 1,000 attempts, pauses from 50 µs growing to at most 20 ms,
    /// so about 10 s of trying before a conflict is reported.
    ///
    /// Optimistic transactions are not fair: the writer that just committed starts
    /// its next attempt first, while the others learn of their abort only when
    /// their `EXEC` answers. On a loaded machine, where an attempt takes tens of
    /// milliseconds, one of 8 writers on one key needed 98 attempts; 100 was too
    /// few. 1,000 leaves room for 16 writers hammering one key to all commit.
    public static let `default` = RedisRetryPolicy()

    /// The pause to take after `abortedAttempts` aborted attempts.
    func delay(afterAbortedAttempts abortedAttempts: Int) -> Duration {
        let exponent = min(abortedAttempts - 1, 20)
        let bound = min(maximumDelay, baseDelay * (1 << exponent))
        let boundNanoseconds = max(Int64(1), bound.components.seconds * 1_000_000_000 + bound.components.attoseconds / 1_000_000_000)
        return .nanoseconds(Int64.random(in: 0...boundNanoseconds))
    }

    /// Blocks the calling thread for the pause. Used between attempts on a transaction's own thread.
    func pause(afterAbortedAttempts abortedAttempts: Int) {
        let (seconds, attoseconds) = delay(afterAbortedAttempts: abortedAttempts).components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
