import Histogram
import OpsCore

/// The figures of one benchmark run.
struct BenchResult {
    /// `ping`, `start`, `get`, `update`, `end` or `hot_session`.
    var run: String
    /// Connections (threads) used.
    var connections: Int
    /// Operations completed.
    var operations: Int
    /// Wall time in seconds.
    var seconds: Double
    /// Latency per operation in microseconds.
    var latency: Histogram<UInt64>
    /// Aborted WATCH attempts per committed operation.
    var abortsPerOperation: Double
    /// Redis round trips per operation.
    var roundTripsPerOperation: Double
    /// Client CPU time (user + system) per operation, in microseconds.
    var cpuMicrosecondsPerOperation: Double
    /// The Redis primaries' CPU time (user + system, summed over every primary)
    /// per operation, in microseconds, from `INFO cpu` before and after the run.
    var serverCPUMicrosecondsPerOperation: Double
    /// For runs measured in slices alternating with PING slices: the median of
    /// (operation rate ÷ PING rate) over the slices.
    var pingRatio: Double? = nil

    var operationsPerSecond: Double { seconds > 0 ? Double(operations) / seconds : 0 }

    /// The result as one JSON object.
    var json: JSONValue {
        .object([
            "run": .string(run),
            "connections": .integer(Int64(connections)),
            "ops_per_sec": .integer(Int64(operationsPerSecond.rounded())),
            "p50_us": .integer(Int64(latency.valueAtPercentile(50))),
            "p99_us": .integer(Int64(latency.valueAtPercentile(99))),
            "max_us": .integer(Int64(latency.max)),
            "aborts_per_op": .double((abortsPerOperation * 1000).rounded() / 1000),
            "round_trips_per_op": .double((roundTripsPerOperation * 100).rounded() / 100),
            "cpu_us_per_op": .double((cpuMicrosecondsPerOperation * 10).rounded() / 10),
            "server_cpu_us_per_op": .double((serverCPUMicrosecondsPerOperation * 10).rounded() / 10),
            "operations": .integer(Int64(operations)),
            "ping_ratio": pingRatio.map { .double(($0 * 1000).rounded() / 1000) } ?? .null,
        ])
    }

    /// The result as one row of the text table.
    var row: String {
        func column(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        return column(run, 21) + column("\(connections)", 6) + column("\(Int(operationsPerSecond.rounded()))", 10)
            + column("\(latency.valueAtPercentile(50))", 9) + column("\(latency.valueAtPercentile(99))", 9)
            + column("\(latency.max)", 9) + column(String(format2(abortsPerOperation)), 9)
            + column(String(format2(roundTripsPerOperation)), 8)
            + column(String(format2(cpuMicrosecondsPerOperation)), 11)
            + column(String(format2(serverCPUMicrosecondsPerOperation)), 11)
            + column(pingRatio.map(format2) ?? "", 10)
    }

    static let header = "                  run  conn     ops/s   p50 µs   p99 µs   max µs  aborts/op  rt/op  cpu µs/op  srv µs/op  ×ping(p)"

    private func format2(_ value: Double) -> String {
        let scaled = Int((value * 100).rounded())
        return "\(scaled / 100).\(String(format0(scaled % 100)))"
    }

    private func format0(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
