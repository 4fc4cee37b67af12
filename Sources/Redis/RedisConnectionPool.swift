import CoreMetrics
import Foundation
import Synchronization

/// A fixed-size pool of connections shared by many threads.
///
/// Connections are made on first need, up to ``size``. ``withConnection(_:)``
/// lends one connection to one caller at a time, **blocking the calling thread**
/// while all are lent and while Redis answers; call it from threads of your own,
/// not from Swift concurrency's cooperative pool.
///
/// A connection that failed at the socket level is closed and never lent again;
/// the next borrower gets a new one. While Redis is down each borrow tries to
/// connect and throws the connection error; once Redis is back, borrows succeed
/// again. A failure marked ``RedisError/isSafeToRetry`` on a connection that had
/// sat idle (a server restart closed it under the pool) is retried once on a new
/// connection; a timeout is not, so a stalled server costs one timeout, not two.
/// Under Sentinel, a connection to a server that is no longer the primary
/// (``RedisConnection/isStale``) is closed instead of being lent.
public final class RedisConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: every mutable property is read and written only while
    // `condition` is locked, and each connection is lent to one borrower at a time.
    private let condition = NSCondition()
    private var idle: [RedisConnection] = []
    private var existing = 0
    /// Connections closed as broken or stale and not yet replaced (for `opscore_redis_reconnects_total`).
    private var toReplace = 0
    private var isClosed = false

    private let roundTripCounter = Atomic<Int>(0)

    /// Round trips made by all borrowers so far: a benchmark and test aid.
    public var roundTrips: Int { router?.roundTrips ?? roundTripCounter.load(ordering: .relaxed) }

    /// The configuration every connection is made with.
    public let configuration: RedisConfiguration
    /// The most connections open at once.
    public let size: Int

    /// Creates a pool; no connection is made until the first borrow.
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - size: The most connections open at once (at least 1).
    public init(configuration: RedisConfiguration, size: Int) {
        self.configuration = configuration
        self.size = max(1, size)
        router = configuration.cluster == nil ? nil : RedisClusterRouter(configuration: configuration, poolSize: size)
    }

    /// For a cluster configuration: the router with a pool per primary, which this pool lends through.
    public let router: RedisClusterRouter?

    /// Lends a connection that owns the slot of `keys` (on a single server or under
    /// Sentinel: any connection). On a Cluster the work goes to the slot's primary
    /// and follows its redirections (see ``RedisClusterRouter``). Blocks.
    /// - Parameters:
    ///   - keys: The keys the work touches; on a Cluster they must share one slot.
    ///   - body: One command, pipeline or transaction on the connection (on a Cluster
    ///     it runs again after a redirection, which applied nothing).
    /// - Throws: ``RedisError`` `crossSlot` before anything is sent when the keys
    ///   span slots on a Cluster; otherwise as ``withConnection(_:)``.
    @discardableResult
    public func withConnection<Result>(routingKeys keys: [[UInt8]], _ body: (RedisConnection) throws -> Result) throws -> Result {
        guard let router else { return try withConnection(body) }
        let slot = keys.first.map(RedisHashSlot.slot) ?? 0
        if keys.dropFirst().contains(where: { RedisHashSlot.slot(of: $0) != slot }) {
            throw RedisError(.crossSlot, "the keys of one command or transaction span several Cluster slots")
        }
        return try router.withConnection(slot: slot, body)
    }

    /// Lends a connection to `body` and takes it back afterwards. Blocks.
    /// - Parameter body: Work on the connection; it must not keep the connection.
    /// - Returns: What `body` returns.
    /// - Throws: ``RedisError`` when no connection could be made (`connectionFailed`,
    ///   `timeout`, `authenticationFailed`) or the pool is closed (`shutDown`), and
    ///   whatever `body` throws.
    @discardableResult
    public func withConnection<Result>(_ body: (RedisConnection) throws -> Result) throws -> Result {
        // Keyless work on a Cluster (PING, TIME, INFO) goes to the owner of slot 0.
        if let router { return try router.withConnection(slot: 0, body) }
        var (connection, wasIdle) = try borrow(preferIdle: true)
        while true {
            let before = connection.roundTrips
            do {
                let result = try body(connection)
                giveBack(connection, roundTripsBefore: before)
                return result
            } catch let error as RedisError where error.isSafeToRetry && error.kind != .timeout && wasIdle && connection.isBroken {
                // A connection that died while idle (a restart): once more on a fresh one,
                // which is not idle, so this happens at most once.
                giveBack(connection, roundTripsBefore: before)
                (connection, wasIdle) = try borrow(preferIdle: false)
            } catch {
                giveBack(connection, roundTripsBefore: before)
                throw error
            }
        }
    }

    /// Closes idle connections and refuses further borrows; lent ones close when given back.
    public func close() {
        router?.close()
        condition.lock()
        isClosed = true
        existing -= idle.count
        idle.removeAll()
        condition.broadcast()
        condition.unlock()
    }

    private func borrow(preferIdle: Bool) throws(RedisError) -> (RedisConnection, Bool) {
        condition.lock()
        while true {
            if isClosed {
                condition.unlock()
                throw RedisError(.shutDown, "connection pool is closed")
            }
            if preferIdle, let connection = idle.popLast() {
                if connection.isStale {
                    // The sentinels named another primary since it was made.
                    existing -= 1
                    toReplace += 1
                    continue
                }
                condition.unlock()
                return (connection, true)
            }
            if existing < size {
                existing += 1
                let replacing = toReplace > 0
                if replacing { toReplace -= 1 }
                condition.unlock()
                if replacing { Counter(label: "opscore_redis_reconnects_total").increment() }
                do {
                    return (try RedisConnection(configuration: configuration), false)
                } catch {
                    condition.lock()
                    existing -= 1
                    condition.signal()
                    condition.unlock()
                    throw error
                }
            }
            if !preferIdle, let stale = idle.popLast() {
                // Make room for a fresh connection by dropping an idle one.
                existing -= 1
                _ = stale
                continue
            }
            condition.wait()
        }
    }

    private func giveBack(_ connection: RedisConnection, roundTripsBefore: Int) {
        roundTripCounter.add(connection.roundTrips - roundTripsBefore, ordering: .relaxed)
        condition.lock()
        if connection.isBroken || isClosed {
            existing -= 1
            if !isClosed { toReplace += 1 }
        } else {
            idle.append(connection)
        }
        condition.signal()
        condition.unlock()
    }
}
