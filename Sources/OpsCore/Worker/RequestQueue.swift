import Foundation

/// A bounded first-in first-out queue of request lines between the reader and
/// the worker threads. ``put(_:)`` and ``take()`` block their (own) threads.
final class RequestQueue: @unchecked Sendable {
    // @unchecked Sendable: `items` and `isClosed` are only touched while `condition` is locked.
    private let condition = NSCondition()
    private var items: [[UInt8]] = []
    private var head = 0
    private var isClosed = false
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Adds a line, waiting while the queue is full. Returns `false` once closed.
    @discardableResult
    func put(_ line: [UInt8]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count - head >= capacity && !isClosed { condition.wait() }
        guard !isClosed else { return false }
        items.append(line)
        condition.broadcast()
        return true
    }

    /// The next line, waiting while the queue is empty; `nil` once closed and drained.
    func take() -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while head == items.count && !isClosed { condition.wait() }
        guard head < items.count else { return nil }
        let line = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return line
    }

    /// No more lines will be put; takers drain what is queued, then get `nil`.
    func close() {
        condition.lock()
        isClosed = true
        condition.broadcast()
        condition.unlock()
    }
}
