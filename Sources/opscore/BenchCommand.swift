import ArgumentParser
import Foundation
import OpsCore
import Redis

/// `opscore bench`: measures OpsCore against the Redis server's own PING rate.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure start, get, update, end, consume, watch latency and a hot session against the server's PING rate.",
        discussion: """
            Runs in a namespace of its own (<namespace>-bench-<random>) and deletes its keys afterwards. \
            Build in release mode for real figures: swift build -c release. start, get, update and end \
            run in ten slices that alternate with PING slices; ×ping(p) is the median of the slices' \
            (operation rate ÷ PING rate), so machine speed swings cancel out.

            Example: opscore bench --connections 8 --duration 5
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Connections for the multi-connection runs and writers for the hot session.") var connections: Int = 8
    @Option(help: "Seconds per run.") var duration: Double = 3
    @Option(name: .customLong("memory-sessions"), help: "Also measure Redis memory per session over this many sessions (e.g. 100000).") var memorySessions: Int = 0
    @Option(name: .customLong("growth"), help: "Also measure start throughput (1 connection) as stored sessions grow through these sizes, e.g. 10000,100000,1000000.") var growth: String?
    @Option(name: .customLong("memory-events"), help: "Also measure Redis memory per retained event over this many events (e.g. 100000).") var memoryEvents: Int = 0
    @Option(name: .customLong("watch-rate"), help: "Updates per second for the watch latency run.") var watchRate: Int = 1_000
    @Flag(help: "With a redis-sentinel:// URL, end by shutting the primary down (SHUTDOWN NOSAVE) and measure the time until an update succeeds through the promoted replica. Destroys data: only for a test deployment.") var failover = false

    func run() throws {
        guard (1...256).contains(connections) else { throw CommandFailure.usage("invalid --connections: use 1 to 256") }
        guard duration > 0, duration <= 600 else { throw CommandFailure.usage("invalid --duration: 0 to 600 seconds") }
        guard (0...10_000_000).contains(memoryEvents) else { throw CommandFailure.usage("invalid --memory-events: 0 to 10000000") }
        guard (1...100_000).contains(watchRate) else { throw CommandFailure.usage("invalid --watch-rate: 1 to 100000") }
        _ = try global.logger()
        let stages = try (growth ?? "").split(separator: ",").map { text -> Int in
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value > 0, value <= 10_000_000 else {
                throw CommandFailure.usage("invalid --growth: comma-separated session counts up to 10000000")
            }
            return value
        }
        let namespace = try global.resolvedNamespace() + "-bench-" + SessionID.random().text.prefix(8)
        let runner = try BenchRunner(
            configuration: try global.redisConfiguration(), namespace: namespace,
            connections: connections, duration: .milliseconds(Int64(duration * 1000)))
        let format = global.outputFormat
        defer { runner.cleanUp() }
        try runner.prepare()
        if format == .text { Output.line(BenchResult.header) }
        func report(_ result: BenchResult) {
            switch format {
            case .json: Output.line(result.json.jsonBytes)
            case .text: Output.line(result.row)
            }
        }
        if failover, try global.redisConfiguration().sentinel == nil {
            throw CommandFailure.usage("--failover needs a redis-sentinel:// URL")
        }
        // The memory figures read one server's INFO: not on a Cluster.
        let onCluster = try global.redisConfiguration().cluster != nil
        if onCluster && (memorySessions > 0 || memoryEvents > 0) {
            throw CommandFailure.usage("--memory-sessions and --memory-events read one server's memory: not on a Redis Cluster")
        }
        for count in Set([1, connections]).sorted() {
            progress("ping ×\(count)")
            report(try runner.ping(connections: count))
            progress("start ×\(count)")
            let (started, sessions) = try runner.start(connections: count)
            report(started)
            progress("get ×\(count)")
            report(try runner.get(connections: count, sessions: sessions))
            progress("update ×\(count)")
            report(try runner.update(connections: count, sessions: sessions))
            if count == 1 {
                progress("get and update floors ×1")
                try runner.floors(like: sessions[0]).forEach(report)
            }
            if count == 1, try runner.connectedReplicas() > 0 {
                progress("update ×1 with WAIT 1")
                report(try runner.updateWaiting(replicas: 1, sessions: sessions))
            }
            progress("end ×\(count)")
            report(try runner.end(connections: count, sessions: sessions))
        }
        progress("consume")
        report(try runner.consume())
        progress("watch latency at \(watchRate) updates/s")
        report(try runner.watchLatency(rate: watchRate))
        progress("hot session ×\(connections)")
        report(try runner.hotSession(writers: connections, coalesced: true))
        progress("hot session, separate connections ×\(connections)")
        report(try runner.hotSession(writers: connections, coalesced: false))
        if memorySessions > 0 {
            progress("memory over \(memorySessions) sessions")
            let (bytes, encoding) = try runner.memoryPerSession(count: memorySessions, connections: connections)
            switch format {
            case .json:
                Output.object(["run": .string("memory"), "sessions": .integer(Int64(memorySessions)),
                               "bytes_per_session": .integer(Int64(bytes.rounded())), "encoding": .string(encoding)])
            case .text:
                Output.line("memory: \(Int(bytes.rounded())) bytes per session over \(memorySessions) sessions (hash encoding: \(encoding))")
            }
        }
        if memoryEvents > 0 {
            progress("memory over \(memoryEvents) events")
            let bytes = try runner.memoryPerEvent(count: memoryEvents, connections: connections)
            switch format {
            case .json:
                Output.object(["run": .string("event_memory"), "events": .integer(Int64(memoryEvents)),
                               "bytes_per_event": .integer(Int64(bytes.rounded()))])
            case .text:
                Output.line("memory: \(Int(bytes.rounded())) bytes per retained event over \(memoryEvents) events")
            }
        }
        for stage in stages {
            progress("filling to \(stage) sessions")
            try runner.fill(to: stage, connections: connections)
            progress("start at \(stage) sessions")
            var result = try runner.start(connections: 1, paired: false).0
            result.run = "start@\(stage)"
            switch format {
            case .json:
                var fields = result.json.objectValue ?? [:]
                fields["run"] = .string("start_at_size")
                fields["stored_sessions"] = .integer(Int64(stage))
                Output.object(fields)
            case .text:
                Output.line(result.row)
            }
        }
        if let router = runner.pool.router {
            let followed = router.redirectionsFollowed
            switch format {
            case .json: Output.object(["run": .string("cluster"), "primaries": .integer(Int64(router.slotMap.primaries.count)), "redirections_followed": .integer(Int64(followed))])
            case .text: Output.line("cluster: \(router.slotMap.primaries.count) primaries; \(followed) MOVED/ASK redirections followed")
            }
        }
        if failover {
            progress("failover")
            let result = try runner.failover(session: try runner.lifecycle.startSession(agentID: runner.agentID, workflowID: "bench-failover").id)
            let errors = result.errorCodes.sorted { $0.key < $1.key }
            switch format {
            case .json:
                Output.object([
                    "run": .string("failover"), "old_primary": .string(result.oldPrimary), "new_primary": .string(result.newPrimary),
                    "seconds_to_first_success": .double(result.secondsToFirstSuccess),
                    "failed_updates": .integer(Int64(result.failedUpdates)),
                    "errors": .object(Dictionary(uniqueKeysWithValues: errors.map { ($0.key, JSONValue.integer(Int64($0.value))) })),
                ])
            case .text:
                let detail = errors.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                Output.line("failover: \(result.oldPrimary) shut down; first update through \(result.newPrimary) after \(String(format: "%.2f", result.secondsToFirstSuccess)) s; \(result.failedUpdates) updates failed meanwhile (\(detail.isEmpty ? "none" : detail))")
            }
        }
        progress(nil)
    }

    /// A progress line on stderr, overwritten in place on a terminal.
    private func progress(_ step: String?) {
        guard isatty(STDERR_FILENO) == 1 else { return }
        Output.diagnostic(step.map { "\u{1B}[2K\rbench: \($0)…\u{1B}[1A" } ?? "\u{1B}[2K\r\u{1B}[1A")
    }
}
