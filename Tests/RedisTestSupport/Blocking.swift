import Foundation

/// Runs blocking work on a thread of its own and awaits its result, so that
/// async tests never block Swift concurrency's cooperative threads.
@discardableResult
public func onOwnThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result2.capture(body))
        }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

private enum Result2 {
    static func capture<Value>(_ body: () throws -> Value) -> Swift.Result<Value, any Error> {
        do { return .success(try body()) } catch { return .failure(error) }
    }
}

/// Runs `count` copies of blocking work at once, each on its own thread, and awaits them all.
public func onThreads<Result: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Result) async throws -> [Result] {
    try await withThrowingTaskGroup(of: (Int, Result).self) { group in
        for index in 0..<count {
            group.addTask { (index, try await onOwnThread { try body(index) }) }
        }
        var results = [Result?](repeating: nil, count: count)
        for try await (index, result) in group { results[index] = result }
        return results.map { $0! }
    }
}
