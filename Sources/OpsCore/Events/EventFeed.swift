public import Redis
import Foundation

/// The event feed as an `AsyncSequence` of ``FeedItem``s, for Swift concurrency.
///
/// Iterating starts an ``EventFeedReader`` on a thread of its own (the blocking
/// `XREAD` never runs on the cooperative pool). The thread reads only as fast as
/// the consumer takes items: at most `bufferSize` items wait between them, so
/// memory stays bounded with a slow consumer. Ending the iteration (or the task
/// being cancelled) stops the thread within the read's block time.
public struct EventFeed: AsyncSequence, Sendable {
    public typealias Element = FeedItem

    private let configuration: RedisConfiguration
    private let keys: KeySpace
    private let start: EventFeedReader.Start
    private let bufferSize: Int

    /// Creates a feed.
    /// - Parameters:
    ///   - configuration: Where Redis is; the feed uses a connection of its own.
    ///   - keys: The namespace's keys.
    ///   - start: Where reading starts.
    ///   - bufferSize: The most items read ahead of the consumer.
    public init(configuration: RedisConfiguration, keys: KeySpace, from start: EventFeedReader.Start = .now, bufferSize: Int = 256) {
        self.configuration = configuration
        self.keys = keys
        self.start = start
        self.bufferSize = Swift.max(1, bufferSize)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(pump: FeedPump(reader: EventFeedReader(configuration: configuration, keys: keys, from: start), bufferSize: bufferSize))
    }

    /// Takes items from the reading thread, returning a credit for each one taken.
    public struct Iterator: AsyncIteratorProtocol {
        fileprivate let pump: FeedPump
        private var items: AsyncThrowingStream<FeedItem, any Error>.Iterator

        fileprivate init(pump: FeedPump) {
            self.pump = pump
            items = pump.stream.makeAsyncIterator()
            pump.start()
        }

        public mutating func next() async throws -> FeedItem? {
            let item = try await items.next()
            pump.credits.signal()
            return item
        }
    }
}

/// The reading thread of an ``EventFeed``: reads while it holds credits, yields items.
private final class FeedPump: @unchecked Sendable {
    // @unchecked Sendable: the reader is used only on the pump's thread; `stopped`
    // is guarded by `lock`; semaphores and the continuation are thread safe.
    let credits: DispatchSemaphore
    let stream: AsyncThrowingStream<FeedItem, any Error>
    private let continuation: AsyncThrowingStream<FeedItem, any Error>.Continuation
    private let reader: EventFeedReader
    private let lock = NSLock()
    private var stopped = false

    init(reader: EventFeedReader, bufferSize: Int) {
        self.reader = reader
        credits = DispatchSemaphore(value: bufferSize)
        (stream, continuation) = AsyncThrowingStream.makeStream(of: FeedItem.self)
        continuation.onTermination = { [weak self] _ in self?.stop() }
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    func stop() {
        lock.withLock { stopped = true }
        credits.signal()  // wake the thread if it waits for a credit
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "opscore-event-feed"
        thread.start()
    }

    private func run() {
        while !isStopped {
            do {
                for item in try reader.next(block: .milliseconds(500)) {
                    credits.wait()
                    if isStopped { break }
                    continuation.yield(item)
                }
            } catch {
                continuation.finish(throwing: error)
                return
            }
        }
        continuation.finish()
    }
}
