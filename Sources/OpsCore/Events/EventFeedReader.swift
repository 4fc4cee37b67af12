public import Redis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the 16 partitions' event streams from a position, on a connection of
/// its own, with one blocking `XREAD` over the 16 keys (on a Cluster: one `XREAD`
/// per partition, pipelined per primary, polled; see ``FeedLink``).
///
/// **Every call blocks the calling thread** (at most the `block` time plus a
/// round trip); ``EventFeed`` runs one on a thread of its own for async code.
/// The reader keeps its position per partition: after a lost connection it
/// reconnects (with backoff) and resumes exactly where it was, so it misses
/// nothing that is still retained. A position the streams have trimmed away
/// is reported as ``FeedItem/gap(partition:firstKept:)``, never skipped silently.
/// One reader is used by one thread at a time.
public final class EventFeedReader {
    /// Where reading starts.
    public enum Start: Sendable, Hashable {
        /// Events committed from now on.
        case now
        /// Every retained event.
        case beginning
        /// Retained events committed at or after this time, then live ones.
        case time(Timestamp)
        /// Retained events committed at most this long ago (by the Redis clock), then live ones.
        case ago(Duration)
    }

    private let configuration: RedisConfiguration
    private let keys: KeySpace
    private let start: Start
    private let batchSize: Int
    private var link: FeedLink?
    private var positions: [StreamID]?
    private var gapChecks = Set(KeySpace.partitions)
    private var everConnected = false
    private var outage = false
    private var failures = 0

    /// Creates a reader; nothing is sent until the first ``next(block:)``.
    /// - Parameters:
    ///   - configuration: Where Redis is; reading uses a connection of its own.
    ///   - keys: The namespace's keys.
    ///   - start: Where reading starts.
    ///   - batchSize: The most entries read per partition per call (memory stays bounded by it).
    public init(configuration: RedisConfiguration, keys: KeySpace, from start: Start = .now, batchSize: Int = 200) {
        self.configuration = configuration
        self.keys = keys
        self.start = start
        self.batchSize = max(1, batchSize)
    }

    /// The position reached in each partition (`nil` before the first read).
    public var position: [StreamID]? { positions }

    /// Reads what has been committed after the position, waiting up to `block`
    /// when there is nothing yet. Blocks.
    /// - Returns: Events in stream order per partition, gap notices, and connection
    ///   news; empty when nothing arrived in time.
    /// - Throws: ``OpsCoreError`` `redis` when the first connection fails, or when
    ///   Redis refuses a read (`NOPERM`, `WRONGTYPE`); later connection losses are
    ///   returned as ``FeedItem/disconnected(_:)`` and retried.
    public func next(block: Duration = .milliseconds(500)) throws(OpsCoreError) -> [FeedItem] {
        var items: [FeedItem] = []
        do throws(RedisError) {
            let connection = try connect(reporting: &items)
            if positions == nil { positions = try initialPositions(connection) }
            if !gapChecks.isEmpty {
                items += try checkGaps(connection)
                if !items.isEmpty { return items }
            }
            items += try read(connection, block: block)
            return items
        } catch let error where error.isConnectionError {
            link = nil
            guard everConnected else { throw .redis(error) }
            if !outage {
                outage = true
                items.append(.disconnected(.redis(error)))
            }
            failures += 1
            let milliseconds = min(2_000, 50 << min(failures, 6))
            usleep(useconds_t(milliseconds * 1000))
            return items
        } catch {
            throw .redis(error)
        }
    }

    private func connect(reporting items: inout [FeedItem]) throws(RedisError) -> FeedLink {
        if let link, !link.isBroken { return link }
        let made = try FeedLink.open(configuration)
        link = made
        if everConnected { items.append(.reconnected) }
        everConnected = true
        outage = false
        failures = 0
        gapChecks = Set(KeySpace.partitions)
        return made
    }

    private func initialPositions(_ connection: FeedLink) throws(RedisError) -> [StreamID] {
        let first: StreamID
        switch start {
        case .beginning:
            first = .zero
        case .time(let time):
            first = StreamID(milliseconds: UInt64(max(0, time.millisecondsSince1970)), sequence: 0).predecessor
        case .now:
            first = StreamID(milliseconds: try Self.redisMilliseconds(connection), sequence: 0).predecessor
        case .ago(let duration):
            let back = UInt64(max(0, duration.wholeMilliseconds))
            let now = try Self.redisMilliseconds(connection)
            first = StreamID(milliseconds: now > back ? now - back : 0, sequence: 0).predecessor
        }
        return Array(repeating: first, count: KeySpace.partitionCount)
    }

    private static func redisMilliseconds(_ connection: FeedLink) throws(RedisError) -> UInt64 {
        UInt64(max(0, try connection.send(RedisCommand("TIME")).redisTime().millisecondsSince1970))
    }

    /// `XINFO STREAM` for the partitions to check: a gap where entries after the
    /// position were trimmed away; the position then moves to the first entry kept.
    private func checkGaps(_ connection: FeedLink) throws(RedisError) -> [FeedItem] {
        let partitions = gapChecks.sorted()
        let replies = try connection.perPartition(partitions.map { (keys.eventStream($0), RedisCommand("XINFO", "STREAM", keys.eventStream($0))) })
        gapChecks.removeAll()
        var items: [FeedItem] = []
        for (partition, reply) in zip(partitions, replies) {
            // No stream yet ("no such key"): nothing was trimmed.
            guard let info = StreamReplies.info(reply), let position = positions?[partition],
                  info.trimmed(after: position), let firstKept = info.firstKept else { continue }
            items.append(.gap(partition: partition, firstKept: firstKept))
            positions?[partition] = firstKept.predecessor
        }
        return items
    }

    private func read(_ connection: FeedLink, block: Duration) throws(RedisError) -> [FeedItem] {
        guard var positions else { return [] }
        let streams = try connection.read(
            "XREAD", options: ["COUNT", batchSize], streams: keys.eventStreams, ids: positions.map(\.description), block: block)
        var items: [FeedItem] = []
        for (key, entries) in streams {
            guard let partition = keys.partition(ofEventStream: key) else { continue }
            for entry in entries {
                positions[partition] = entry.id
                if let payload = entry.event {
                    items.append(.event(FeedEntry(partition: partition, streamID: entry.id, payload: payload)))
                }
            }
            // A full batch means the reader is behind: check for trimming before reading on.
            if entries.count >= batchSize { gapChecks.insert(partition) }
        }
        self.positions = positions
        return items
    }
}
