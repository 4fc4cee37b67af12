import Histogram
import OpsCore
import Redis
import Synchronization

extension BenchRunner {
    /// An operation measured in slices that alternate with PING slices, so that
    /// the ratio to PING is taken under the same machine conditions: this
    /// machine's speed swings by tens of percent within seconds.
    struct PairedResult {
        /// The operation over all its slices.
        var result: BenchResult
        /// The median over the slices of (operation rate ÷ the PING rate of the slice before it).
        var medianRatio: Double
    }

    /// Runs `slices` pairs of a PING slice and an operation slice, each `slice` long.
    func paired(
        _ run: String, connections: Int, slices: Int = 10, slice: Duration = .milliseconds(200),
        _ operation: @escaping @Sendable (_ thread: Int, _ index: Int) throws -> Bool
    ) throws -> PairedResult {
        var ratios: [Double] = []
        var total: BenchResult?
        // Each thread's index carries on across slices (round robin, end's own list).
        let cursors = Mutex([Int](repeating: 0, count: connections))
        for _ in 0..<slices {
            let ping = try measure("ping", connections: connections, duration: slice) { _, _ in
                try self.pool.withConnection { _ = try $0.send(RedisCommand("PING")) }
                return true
            }
            let part = try measure(run, connections: connections, duration: slice) { thread, _ in
                let index = cursors.withLock { cursors -> Int in
                    defer { cursors[thread] += 1 }
                    return cursors[thread]
                }
                return try operation(thread, index)
            }
            if ping.operationsPerSecond > 0 { ratios.append(part.operationsPerSecond / ping.operationsPerSecond) }
            total = total.map { $0.merged(with: part) } ?? part
        }
        ratios.sort()
        let median = ratios.isEmpty ? 0 : (ratios[(ratios.count - 1) / 2] + ratios[ratios.count / 2]) / 2
        var result = total!
        result.pingRatio = median
        return PairedResult(result: result, medianRatio: median)
    }
}

extension BenchResult {
    /// This result and a later slice of the same run as one result.
    func merged(with other: BenchResult) -> BenchResult {
        var latency = self.latency
        latency.add(other.latency)
        let operations = self.operations + other.operations
        func weighted(_ a: Double, _ b: Double) -> Double {
            operations > 0 ? (a * Double(self.operations) + b * Double(other.operations)) / Double(operations) : 0
        }
        return BenchResult(
            run: run, connections: connections, operations: operations, seconds: seconds + other.seconds, latency: latency,
            abortsPerOperation: weighted(abortsPerOperation, other.abortsPerOperation),
            roundTripsPerOperation: weighted(roundTripsPerOperation, other.roundTripsPerOperation),
            cpuMicrosecondsPerOperation: weighted(cpuMicrosecondsPerOperation, other.cpuMicrosecondsPerOperation),
            serverCPUMicrosecondsPerOperation: weighted(serverCPUMicrosecondsPerOperation, other.serverCPUMicrosecondsPerOperation))
    }
}
