import Dispatch
import Foundation

/// Turns SIGINT and SIGTERM into a callback instead of killing the process.
final class SignalTrap {
    private let sources: [any DispatchSourceSignal]

    /// Calls `handler` (on a private serial queue) when SIGINT or SIGTERM arrives,
    /// with the signal number and how many of the two have arrived so far (1 for the first).
    init(_ handler: @escaping @Sendable (_ signal: Int32, _ count: Int) -> Void) {
        let queue = DispatchQueue(label: "opscore.signals")
        let counter = SignalCounter()
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number, counter.next()) }
            source.resume()
            return source
        }
    }

    deinit {
        sources.forEach { $0.cancel() }
    }
}

/// Counts signals; used only on the trap's serial queue.
private final class SignalCounter: @unchecked Sendable {
    // @unchecked Sendable: `count` is touched only from the trap's one serial queue.
    private var count = 0

    func next() -> Int {
        count += 1
        return count
    }
}
