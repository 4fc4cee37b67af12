import Dispatch
import Foundation
import Histogram
import OpsCore
import Redis
import Synchronization

/// Runs the `opscore bench` workloads against one Redis, in a namespace of its own.
final class BenchRunner: @unchecked Sendable {
    // @unchecked Sendable: `created` is guarded by `lock`; everything else is immutable
    // or Sendable, and each thread of a run uses only its own slice of sessions.
    let lifecycle: SessionLifecycle
    let pool: RedisConnectionPool
    let keys: KeySpace
    let duration: Duration
    let agentID = "bench-agent"
    private let lock = NSLock()
    private var created: [SessionID] = []
    private var otherKeys: [[UInt8]] = []

    init(configuration: RedisConfiguration, namespace: String, connections: Int, duration: Duration) throws {
        pool = RedisConnectionPool(configuration: configuration, size: connections)
        keys = try KeySpace(namespace: namespace)
        lifecycle = try SessionLifecycle(pool: pool, namespace: namespace)
        self.duration = duration
    }

    /// Sessions the bench has created so far.
    var createdCount: Int { lock.withLock { created.count } }

    /// The most recently created session.
    var lastCreated: SessionID? { lock.withLock { created.last } }

    /// Records sessions for the clean-up.
    func remember(_ ids: [SessionID]) {
        lock.withLock { created += ids }
    }

    /// Records keys other than sessions' for the clean-up.
    func remember(otherKeys keys: [[UInt8]]) {
        lock.withLock { otherKeys += keys }
    }

    /// Registers the bench agent.
    func prepare() throws {
        try lifecycle.agents.register([agentID])
    }

    /// `PING`, one command at a time per connection.
    func ping(connections: Int) throws -> BenchResult {
        try measure("ping", connections: connections) { _, _ in
            try self.pool.withConnection { _ = try $0.send(RedisCommand("PING")) }
            return true
        }
    }

    /// Starts sessions (in slices paired with PING slices); returns the ids per
    /// thread for the runs that follow.
    func start(connections: Int, paired isPaired: Bool = true) throws -> (BenchResult, [[SessionID]]) {
        let perThread = Mutex<[[SessionID]]>(Array(repeating: [], count: connections))
        let result = try run("start", connections: connections, paired: isPaired) { thread, _ in
            let session = try self.lifecycle.startSession(agentID: self.agentID, workflowID: "bench", metadata: ["step": .integer(0)])
            perThread.withLock { $0[thread].append(session.id) }
            return true
        }
        let ids = perThread.withLock { $0 }
        lock.withLock { created += ids.flatMap { $0 } }
        return (result, ids)
    }

    /// Reads the sessions of each thread round robin.
    func get(connections: Int, sessions: [[SessionID]]) throws -> BenchResult {
        try run("get", connections: connections, paired: true) { thread, index in
            let mine = sessions[thread]
            _ = try self.lifecycle.getSession(mine[index % mine.count])
            return true
        }
    }

    /// Updates each thread's own sessions round robin (uncontended).
    func update(connections: Int, sessions: [[SessionID]]) throws -> BenchResult {
        try run("update", connections: connections, paired: true) { thread, index in
            let mine = sessions[thread]
            _ = try self.lifecycle.updateSession(mine[index % mine.count], SessionUpdate(metadataPatch: ["step": .integer(Int64(index))]))
            return true
        }
    }

    /// Ends each thread's sessions once; stops when they run out, so it first
    /// starts as many again (untimed) for the slices to come.
    func end(connections: Int, sessions: [[SessionID]]) throws -> BenchResult {
        let (_, more) = try start(connections: connections, paired: false)
        let sessions = zip(sessions, more).map { $0 + $1 }
        return try run("end", connections: connections, paired: true) { thread, index in
            let mine = sessions[thread]
            guard index < mine.count else { return false }
            _ = try self.lifecycle.endSession(mine[index])
            return true
        }
    }

    /// N writers updating one session; verifies the result.
    ///
    /// Coalesced: the writers share this process's lifecycle, which folds concurrent
    /// updates of one session into one transaction. Separate: each writer has a
    /// lifecycle and connection of its own, as N processes on N hosts would, so
    /// every update races the others under WATCH.
    func hotSession(writers: Int, coalesced: Bool) throws -> BenchResult {
        let session = try lifecycle.startSession(agentID: agentID, workflowID: "bench-hot")
        lock.withLock { created.append(session.id) }
        let lastWritten = Mutex<[Int]>(Array(repeating: -1, count: writers))
        let lifecycles = coalesced
            ? Array(repeating: lifecycle, count: writers)
            : try (0..<writers).map { _ in
                try SessionLifecycle(pool: RedisConnectionPool(configuration: pool.configuration, size: 1), namespace: keys.namespace)
            }
        let counters = { () -> Counters in
            var total = Counters(roundTrips: 0, attempts: 0, commits: 0)
            for lifecycle in coalesced ? [self.lifecycle] : lifecycles {
                let counts = lifecycle.store.transactionCounts
                total.roundTrips += lifecycle.store.pool.roundTrips
                total.attempts += counts.attempts
                total.commits += counts.commits
            }
            return total
        }
        let result = try measure(coalesced ? "hot_session" : "hot_session_separate", connections: writers, counters: counters) { thread, index in
            _ = try lifecycles[thread].updateSession(session.id, SessionUpdate(metadataPatch: ["w\(thread)": .integer(Int64(index))]))
            lastWritten.withLock { $0[thread] = index }
            return true
        }
        let final = try lifecycle.getSession(session.id)
        guard final.version == 1 + Int64(result.operations) else {
            throw CommandFailure(message: "hot session lost updates: version \(final.version), expected \(1 + result.operations)", exitCode: 1)
        }
        for (writer, last) in lastWritten.withLock({ $0 }).enumerated() where last >= 0 {
            guard final.metadata["w\(writer)"] == .integer(Int64(last)) else {
                throw CommandFailure(message: "hot session lost writer \(writer)'s last update \(last)", exitCode: 1)
            }
        }
        return result
    }

    /// User plus system CPU time of this process so far, in microseconds.
    private static func processCPUMicroseconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
    }

    /// Deletes every key the bench made (on a Cluster, each on the primary owning it).
    func cleanUp() {
        let (ids, others) = lock.withLock { (created, otherKeys) }
        var deletions: [(key: [UInt8], command: RedisCommand)] = ids.map { (keys.session($0), RedisCommand("DEL", keys.session($0))) }
        deletions += others.map { ($0, RedisCommand("DEL", $0)) }
        // Each partition's keys in a DEL of their own (one slot each, as a Cluster needs).
        for partition in KeySpace.partitions {
            deletions.append((keys.agents(partition), RedisCommand("DEL", [
                keys.agents(partition), keys.byUpdate(partition), keys.agentSessions(agentID, partition: partition),
                keys.eventStream(partition), keys.deadEventStream(partition),
            ])))
        }
        deletions.append((keys.meta, RedisCommand("DEL", keys.meta)))
        var index = 0
        while index < deletions.count {
            _ = try? pool.pipeline(routing: Array(deletions[index..<min(index + 500, deletions.count)]))
            index += 500
        }
    }

    /// `measure` over the whole duration, or `paired` in ten slices of a tenth of it each.
    private func run(
        _ name: String, connections: Int, paired isPaired: Bool,
        _ operation: @escaping @Sendable (_ thread: Int, _ index: Int) throws -> Bool
    ) throws -> BenchResult {
        guard isPaired else { return try measure(name, connections: connections, operation) }
        return try paired(name, connections: connections, slices: 10, slice: max(.milliseconds(50), duration / 10), operation).result
    }

    /// Runs `operation` on `connections` threads until the duration passes (or an
    /// operation returns `false`), recording each one's latency.
    /// Round trips and transaction counts, read before and after a run.
    struct Counters {
        var roundTrips: Int
        var attempts: Int
        var commits: Int
    }

    func measure(
        _ run: String, connections: Int, duration: Duration? = nil, counters: (() -> Counters)? = nil,
        _ operation: @escaping @Sendable (_ thread: Int, _ index: Int) throws -> Bool
    ) throws -> BenchResult {
        let duration = duration ?? self.duration
        let readCounters = counters ?? {
            let counts = self.lifecycle.store.transactionCounts
            return Counters(roundTrips: self.pool.roundTrips, attempts: counts.attempts, commits: counts.commits)
        }
        let before = readCounters()
        let cpuBefore = Self.processCPUMicroseconds()
        let serverBefore = serverCPUMicroseconds()
        let histograms = Mutex<[Histogram<UInt64>]>([])
        let failures = Mutex<[any Error]>([])
        let operations = Atomic<Int>(0)
        let group = DispatchGroup()
        let durationNanoseconds = UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
        let startGate = DispatchSemaphore(value: 0)
        for thread in 0..<connections {
            group.enter()
            Thread {
                var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000)
                startGate.wait()
                let deadline = DispatchTime.now().uptimeNanoseconds + durationNanoseconds
                var index = 0
                do {
                    while true {
                        let before = DispatchTime.now().uptimeNanoseconds
                        if before >= deadline { break }
                        guard try operation(thread, index) else { break }
                        let after = DispatchTime.now().uptimeNanoseconds
                        histogram.record(max(1, (after - before) / 1000))
                        index += 1
                    }
                } catch {
                    failures.withLock { $0.append(error) }
                }
                operations.add(index, ordering: .relaxed)
                histograms.withLock { $0.append(histogram) }
                group.leave()
            }.start()
        }
        let began = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<connections { startGate.signal() }
        group.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        let cpu = Self.processCPUMicroseconds() - cpuBefore
        let serverCPU = serverCPUMicroseconds() - serverBefore
        if let failure = failures.withLock({ $0.first }) { throw failure }
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        for histogram in histograms.withLock({ $0 }) { merged.add(histogram) }
        let total = operations.load(ordering: .relaxed)
        let after = readCounters()
        let attempts = after.attempts - before.attempts
        let commits = after.commits - before.commits
        return BenchResult(
            run: run, connections: connections, operations: total, seconds: seconds, latency: merged,
            abortsPerOperation: total > 0 ? Double(attempts - commits) / Double(total) : 0,
            roundTripsPerOperation: total > 0 ? Double(after.roundTrips - before.roundTrips) / Double(total) : 0,
            cpuMicrosecondsPerOperation: total > 0 ? cpu / Double(total) : 0,
            serverCPUMicrosecondsPerOperation: total > 0 ? serverCPU / Double(total) : 0)
    }

    /// The primaries' CPU time so far (`used_cpu_user` + `used_cpu_sys` of `INFO cpu`,
    /// summed), in microseconds; 0 when it cannot be read (an ACL without `INFO`).
    private func serverCPUMicroseconds() -> Double {
        let infos = (try? pool.withEachPrimary { try RedisInfo($0, section: "cpu") }) ?? []
        return infos.reduce(0) { total, node in
            total + ["used_cpu_user", "used_cpu_sys"].reduce(0) { $0 + (node.result[$1].flatMap(Double.init) ?? 0) * 1e6 }
        }
    }
}
