import CoreMetrics
import FlyingFox
import FlyingSocks
import Foundation
import Prometheus

/// `--metrics-port`: swift-metrics bootstrapped with swift-prometheus, and
/// `GET /metrics` served in the Prometheus text format by a FlyingFox listener.
///
/// The listener runs on Swift concurrency (non-blocking sockets); the commands'
/// own work stays on their threads. Started once, before any metric is made.
enum MetricsEndpoint {
    /// Request durations are sub-millisecond against a healthy Redis: buckets from 100 µs to 10 s.
    private static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2_500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(10),
    ]

    /// Bootstraps the metrics backend and starts serving `/metrics` on `port` (all
    /// interfaces). Returns once the listener is bound.
    /// - Throws: ``CommandFailure`` (exit 64) when the port is out of range or taken.
    static func start(port: Int) throws {
        guard (1...65_535).contains(port) else { throw CommandFailure.usage("invalid --metrics-port: use 1 to 65535") }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = durationBuckets
        MetricsSystem.bootstrap(factory)

        let server = HTTPServer(port: UInt16(port), logger: .disabled)
        let ready = DispatchSemaphore(value: 0)
        let failure = ListenFailure()
        Task {
            await server.appendRoute("GET /metrics") { _ in
                HTTPResponse(
                    statusCode: .ok,
                    headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: Data(registry.emitToBuffer()))
            }
            Task {
                do { try await server.run() } catch { failure.set("\(error)") }
                ready.signal()
            }
            do { try await server.waitUntilListening(timeout: 5) } catch { failure.set("\(error)") }
            ready.signal()
        }
        ready.wait()
        if let message = failure.message {
            throw CommandFailure.usage("cannot serve metrics on port \(port): \(message)")
        }
    }

    /// The first error of the listener, shared between its tasks and the starting thread.
    private final class ListenFailure: @unchecked Sendable {
        // @unchecked Sendable: `text` is read and written only under `lock`.
        private let lock = NSLock()
        private var text: String?
        func set(_ message: String) { lock.withLock { if text == nil { text = message } } }
        var message: String? { lock.withLock { text } }
    }
}
