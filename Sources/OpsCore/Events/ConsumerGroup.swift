public import Redis

/// At-least-once processing of the event feed with a Redis consumer group: one
/// group across the 16 partitions' streams, created on first use.
///
/// A consumer reads new entries (``next(count:block:)``), hands each to its
/// handler, and acknowledges those handled (``acknowledge(_:)``); an entry not
/// acknowledged stays pending and is claimed again by any consumer of the group
/// once it has been idle long enough (``claimIdle(for:count:)``, `XAUTOCLAIM`).
/// An entry that failed too often goes to its partition's dead-letter stream
/// (``deadLetter(_:deliveries:exitStatus:)``). **Every call blocks the calling
/// thread**; one instance is used by one thread at a time, on a connection of
/// its own.
public final class ConsumerGroup {
    /// Where a new group starts reading.
    public enum Start: Sendable, Hashable {
        /// Only events committed after the group was created.
        case now
        /// Every retained event.
        case beginning
    }

    /// The group's name.
    public let group: String
    /// This consumer's name within the group.
    public let consumer: String
    private let configuration: RedisConfiguration
    private let keys: KeySpace
    private var link: FeedLink?
    private var ownPendingDone = false
    private var claimCursors = Array(repeating: "0-0", count: KeySpace.partitionCount)

    /// Creates a consumer; nothing is sent until ``prepare(from:)``.
    public init(configuration: RedisConfiguration, keys: KeySpace, group: String, consumer: String) {
        self.configuration = configuration
        self.keys = keys
        self.group = group
        self.consumer = consumer
    }

    /// Creates the group on the 16 streams where it does not exist yet (`XGROUP
    /// CREATE … MKSTREAM`); an existing group keeps its position.
    /// - Returns: The partitions whose retained entries no longer reach back to the
    ///   group's position (entries were trimmed before the group read them), with
    ///   the first entry kept.
    /// - Throws: ``OpsCoreError`` `redis`.
    @discardableResult
    public func prepare(from start: Start) throws(OpsCoreError) -> [(partition: Int, firstKept: StreamID)] {
        let id = start == .beginning ? "0" : "$"
        let created = try send(KeySpace.partitions.map { (keys.eventStream($0), RedisCommand("XGROUP", "CREATE", keys.eventStream($0), group, id, "MKSTREAM")) })
        for reply in created {
            if case .error(let error) = reply, error.code != "BUSYGROUP" { throw .redis(RedisError(error)) }
        }
        let infos = try send(KeySpace.partitions.flatMap {
            [(keys.eventStream($0), RedisCommand("XINFO", "STREAM", keys.eventStream($0))),
             (keys.eventStream($0), RedisCommand("XINFO", "GROUPS", keys.eventStream($0)))]
        })
        var gaps: [(Int, StreamID)] = []
        for partition in KeySpace.partitions {
            guard let info = StreamReplies.info(infos[2 * partition]), let firstKept = info.firstKept,
                  let position = groupPosition(infos[2 * partition + 1]), info.trimmed(after: position) else { continue }
            gaps.append((partition, firstKept))
        }
        return gaps
    }

    /// The next entries for this consumer: first those it had been given before and
    /// not acknowledged (after a restart), then new ones, waiting up to `block`.
    /// - Throws: ``OpsCoreError`` `redis` (a lost connection too: call again to reconnect).
    public func next(count: Int = 100, block: Duration = .seconds(1)) throws(OpsCoreError) -> [FeedEntry] {
        // After a (re)connect, this consumer's own unacknowledged entries once (as many as
        // 1,000; older ones are claimed back once idle), then new entries.
        let id = ownPendingDone ? ">" : "0"
        let batch = ownPendingDone ? count : 1000
        let streams: [(key: [UInt8], entries: [StreamReplies.Entry])]
        do throws(RedisError) {
            streams = try withLink { link throws(RedisError) in
                try link.read(
                    "XREADGROUP", options: ["GROUP", group, consumer, "COUNT", batch], streams: keys.eventStreams,
                    ids: Array(repeating: id, count: KeySpace.partitionCount), block: ownPendingDone ? block : nil)
            }
        } catch {
            throw .redis(error)
        }
        ownPendingDone = true
        return entries(from: streams)
    }

    /// Acknowledges handled entries (one `XACK` per partition, in one pipeline).
    /// - Throws: ``OpsCoreError`` `redis`.
    public func acknowledge(_ entries: [FeedEntry]) throws(OpsCoreError) {
        guard !entries.isEmpty else { return }
        let byPartition = Dictionary(grouping: entries, by: \.partition)
        let replies = try send(byPartition.keys.sorted().map { partition in
            (keys.eventStream(partition), RedisCommand("XACK", [keys.eventStream(partition), group] + byPartition[partition]!.map(\.streamID.description)))
        })
        for reply in replies { if case .error(let error) = reply { throw .redis(RedisError(error)) } }
    }

    /// Claims entries of any consumer of the group pending for at least `idle`
    /// (`XAUTOCLAIM`, partition by partition, each with its own kept cursor).
    /// - Throws: ``OpsCoreError`` `redis`.
    public func claimIdle(for idle: Duration, count: Int = 100) throws(OpsCoreError) -> [FeedEntry] {
        let commands = KeySpace.partitions.map {
            (keys.eventStream($0), RedisCommand("XAUTOCLAIM", keys.eventStream($0), group, consumer, Self.milliseconds(idle), claimCursors[$0], "COUNT", count))
        }
        var claimed: [FeedEntry] = []
        for (partition, reply) in zip(KeySpace.partitions, try send(commands)) {
            if case .error(let error) = reply { throw .redis(RedisError(error)) }
            guard let parts = reply.array, parts.count >= 2 else { continue }
            claimCursors[partition] = parts[0].text ?? "0-0"
            for entry in (parts[1].array ?? []).compactMap(StreamReplies.entry) {
                if let payload = entry.event { claimed.append(FeedEntry(partition: partition, streamID: entry.id, payload: payload)) }
            }
        }
        return claimed
    }

    /// How many times an entry has been delivered to the group's consumers.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func deliveries(of entry: FeedEntry) throws(OpsCoreError) -> Int {
        let id = entry.streamID.description
        let reply = try send([(keys.eventStream(entry.partition), RedisCommand("XPENDING", keys.eventStream(entry.partition), group, id, id, 1))])[0]
        if case .error(let error) = reply { throw .redis(RedisError(error)) }
        return Int(reply.array?.first?.array?.last?.integer ?? 0)
    }

    /// Copies an entry to its partition's dead-letter stream (fields `event`,
    /// `group`, `deliveries`, `exit_status`) and acknowledges it, in one `MULTI`
    /// (the same transaction mechanism as every session write: nothing is sent
    /// unless `MULTI` was accepted).
    /// - Throws: ``OpsCoreError`` `redis` (an unknown outcome too), `partiallyApplied`.
    public func deadLetter(_ entry: FeedEntry, deliveries: Int, exitStatus: Int32) throws(OpsCoreError) {
        let commands = [
            RedisCommand("XADD", keys.deadEventStream(entry.partition), "*", "event", entry.payload, "group", group,
                         "deliveries", deliveries, "exit_status", Int(exitStatus)),
            RedisCommand("XACK", keys.eventStream(entry.partition), group, entry.streamID.description),
        ]
        let stream = keys.eventStream(entry.partition)
        do throws(RedisError) {
            try withLink { link throws(RedisError) in
                try RedisError.rethrowing {
                    try link.withConnection(routingKey: stream) { connection in
                        _ = try connection.transaction(watching: [], reading: []) { _ in .commit(commands) { _ in () } }
                    }
                }
            }
        } catch {
            throw OpsCoreError(mapping: error)
        }
    }

    private func entries(from streams: [(key: [UInt8], entries: [StreamReplies.Entry])]) -> [FeedEntry] {
        var result: [FeedEntry] = []
        for (key, entries) in streams {
            guard let partition = keys.partition(ofEventStream: key) else { continue }
            for entry in entries {
                // A deleted entry still pending has no fields: nothing to hand over, acknowledge it later.
                result.append(FeedEntry(partition: partition, streamID: entry.id, payload: entry.event ?? []))
            }
        }
        return result
    }

    /// The group's last delivered id in an `XINFO GROUPS` reply.
    private func groupPosition(_ reply: RedisReply) -> StreamID? {
        for fields in (reply.array ?? []).compactMap(\.fieldMap) where fields["name"]?.text == group {
            return fields["last-delivered-id"]?.text.flatMap(StreamID.init)
        }
        return nil
    }

    /// Entries of the 16 streams not yet delivered to the group (`XINFO GROUPS`'
    /// `lag`, summed); `nil` when Redis cannot tell (a stream whose trimming hides it).
    /// - Throws: ``OpsCoreError`` `redis`.
    public func lag() throws(OpsCoreError) -> Int? {
        var total = 0
        for reply in try send(KeySpace.partitions.map { (keys.eventStream($0), RedisCommand("XINFO", "GROUPS", keys.eventStream($0))) }) {
            guard case .array(let groups) = reply else { continue }  // no stream yet
            guard let mine = groups.lazy.compactMap(\.fieldMap).first(where: { $0["name"]?.text == group }) else { continue }
            guard let lag = mine["lag"]?.integer else { return nil }
            total += Int(lag)
        }
        return total
    }

    /// Sends commands, each with the key that routes it, on this consumer's link
    /// (made anew once it broke); error replies in place.
    private func send(_ commands: [(key: [UInt8], command: RedisCommand)]) throws(OpsCoreError) -> [RedisReply] {
        do {
            return try withLink { link throws(RedisError) in try link.perPartition(commands) }
        } catch {
            throw OpsCoreError(mapping: error)
        }
    }

    /// Runs `body` on this consumer's link, made anew once it broke.
    private func withLink<Result>(_ body: (FeedLink) throws(RedisError) -> Result) throws(RedisError) -> Result {
        do {
            if link == nil || link?.isBroken == true {
                link = try FeedLink.open(configuration)
                ownPendingDone = false
            }
            return try body(link!)
        } catch {
            if link?.isBroken == true { link = nil }
            throw error
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        max(1, duration.wholeMilliseconds)
    }
}
