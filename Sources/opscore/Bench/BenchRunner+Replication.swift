import Dispatch
import Foundation
import OpsCore
import Redis

extension BenchRunner {
    /// Replicas connected to the server the pool writes to (`connected_slaves`).
    func connectedReplicas() throws -> Int {
        try pool.withConnection { try RedisInfo($0, section: "replication") }.integer("connected_slaves") ?? 0
    }

    /// Updates at one connection with every write confirmed by `replicas` replicas
    /// (`WAIT`), in slices paired with PING like the plain `update` run: the price of durability.
    func updateWaiting(replicas: Int, sessions: [[SessionID]]) throws -> BenchResult {
        let waiting = try SessionLifecycle(pool: pool, namespace: keys.namespace, waitReplicas: replicas)
        let mine = sessions[0]
        return try paired("update+wait\(replicas)", connections: 1, slices: 10, slice: max(.milliseconds(50), duration / 10)) { _, index in
            _ = try waiting.updateSession(mine[index % mine.count], SessionUpdate(metadataPatch: ["step": .integer(Int64(index))]))
            return true
        }.result
    }

    /// What a failover cost one writer: see ``failover(session:)``.
    struct FailoverResult {
        var oldPrimary: String
        var newPrimary: String
        /// From the moment `SHUTDOWN NOSAVE` was sent to the first update that succeeded afterwards.
        var secondsToFirstSuccess: Double
        /// Updates that failed in between (each with an error, none silently).
        var failedUpdates: Int
        var errorCodes: [String: Int]
    }

    /// Shuts the sentinels' primary down (`SHUTDOWN NOSAVE`) while one writer keeps
    /// updating a session, and measures the time until an update succeeds again
    /// through the primary the sentinels promote. Destructive: only for a test deployment.
    func failover(session: SessionID, timeout: Duration = .seconds(60)) throws -> FailoverResult {
        guard let sentinel = pool.configuration.sentinel else {
            throw CommandFailure.usage("--failover needs a redis-sentinel:// URL")
        }
        let locator = RedisSentinelLocator.shared(for: pool.configuration)
        // Warm up: a few updates through the current primary.
        for step in 0..<20 { _ = try lifecycle.updateSession(session, SessionUpdate(metadataPatch: ["failover": .integer(Int64(step))])) }
        let oldPrimary = try locator.primary().endpoint
        var direct = pool.configuration
        direct.sentinel = nil
        direct.endpoint = oldPrimary
        let killer = try RedisConnection(configuration: direct)
        _ = try? killer.pipeline([RedisCommand("SHUTDOWN", "NOSAVE")])
        let killedAt = DispatchTime.now().uptimeNanoseconds
        let deadline = killedAt + UInt64(timeout.components.seconds) * 1_000_000_000
        var failed = 0
        var codes: [String: Int] = [:]
        var step: Int64 = 1_000
        while DispatchTime.now().uptimeNanoseconds < deadline {
            step += 1
            do {
                _ = try lifecycle.updateSession(session, SessionUpdate(metadataPatch: ["failover": .integer(step)]))
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - killedAt) / 1e9
                let newPrimary = locator.knownPrimary.map(RedisConfiguration.hostAndPort) ?? "?"
                return FailoverResult(
                    oldPrimary: RedisConfiguration.hostAndPort(oldPrimary), newPrimary: newPrimary,
                    secondsToFirstSuccess: seconds, failedUpdates: failed, errorCodes: codes)
            } catch {
                failed += 1
                codes[error.code, default: 0] += 1
                usleep(10_000)
            }
        }
        throw CommandFailure(message: "no update succeeded within \(timeout) after the primary of \(sentinel.masterName) was shut down", exitCode: 69)
    }
}
