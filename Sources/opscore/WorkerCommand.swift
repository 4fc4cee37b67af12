import ArgumentParser
import Foundation
import Logging
import OpsCore

/// `opscore worker`: applies JSON-line requests from stdin, one reply line each.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Apply session requests read as JSON lines on stdin; one JSON reply line each on stdout.",
        discussion: """
            Requests: {"id":"7","op":"update","session_id":"…","status":"paused","metadata":{"step":3}} \
            with op start (agent_id, workflow_id, metadata, optional session_id), update (status, metadata, \
            expected_version), end (status), get, delete or register_agent (agent_id). Replies: \
            {"id":"7","ok":true,"session":{…}} or {"id":"7","ok":false,"error":{"code":…,"message":…}}. \
            At end of input it finishes every request and exits 0. On SIGINT/SIGTERM it stops reading, \
            finishes the requests already read within --drain-timeout and exits 0 (1 when the drain \
            timeout ran out first); a second SIGINT/SIGTERM exits at once.

            Example: printf '%s\\n' '{"id":1,"op":"register_agent","agent_id":"a"}' | opscore worker --concurrency 4
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: "Requests in flight at once (1 to 256).") var concurrency: Int = 4
    @Option(name: .customLong("expire-after"), help: "Expire active/paused sessions not updated for this many seconds.") var expireAfter: Double?
    @Option(name: .customLong("sweep-interval"), help: "Seconds between idle sweeps (default: a quarter of --expire-after, 0.1 to 5).") var sweepInterval: Double?
    @Option(name: .customLong("drain-timeout"), help: "After SIGINT/SIGTERM, seconds to finish requests already read.") var drainTimeout: Double = 10
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics at http://<host>:PORT/metrics.") var metricsPort: Int?

    func run() throws {
        if let metricsPort { try MetricsEndpoint.start(port: metricsPort) }
        guard (1...256).contains(concurrency) else { throw CommandFailure.usage("invalid --concurrency: use 1 to 256") }
        if let expireAfter, !(expireAfter > 0 && expireAfter < 31_536_000) {
            throw CommandFailure.usage("invalid --expire-after: a positive number of seconds")
        }
        if let sweepInterval, !(sweepInterval > 0 && sweepInterval < 86_400) {
            throw CommandFailure.usage("invalid --sweep-interval: a positive number of seconds")
        }
        guard drainTimeout >= 0 && drainTimeout < 86_400 else {
            throw CommandFailure.usage("invalid --drain-timeout: a number of seconds from 0")
        }
        let (lifecycle, logger) = try global.lifecycle(poolSize: concurrency + (expireAfter == nil ? 0 : 1))
        let expire = expireAfter.map { Duration.milliseconds(Int64($0 * 1000)) }
        let interval = sweepInterval ?? min(5, max(0.1, (expireAfter ?? 20) / 4))
        let worker = SessionWorker(
            lifecycle: lifecycle, concurrency: concurrency, expireAfter: expire,
            sweepInterval: .milliseconds(Int64(interval * 1000)), drainTimeout: .milliseconds(Int64(drainTimeout * 1000)),
            logger: logger)
        let trap = SignalTrap { number, count in
            if count > 1 {
                logger.warning("second signal; exiting without waiting")
                _exit(128 + number)
            }
            logger.info("signal received; finishing requests in flight")
            worker.stop()
        }
        let summary = worker.run()
        withExtendedLifetime(trap) {}
        if !summary.drained { Foundation.exit(1) }
    }
}
