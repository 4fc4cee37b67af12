import Dispatch
import Foundation

/// Turns SIGINT and SIGTERM into a callback instead of killing the process.
final class SignalTrap {
    private let sources: [any DispatchSourceSignal]

    /// Calls `handler` (on a private queue) when SIGINT or SIGTERM arrives.
    init(_ handler: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "opscore.signals")
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    deinit {
        sources.forEach { $0.cancel() }
    }
}
