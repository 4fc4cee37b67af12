import Redis

/// Reading the replies of `XREAD`/`XREADGROUP` and `XINFO STREAM`.
enum StreamReplies {
    /// One stream entry: its id and its `event` field (the only one OpsCore reads).
    struct Entry {
        var id: StreamID
        var event: [UInt8]?
    }

    private static let eventField = Array("event".utf8)

    /// The entries per stream key of an `XREAD`/`XREADGROUP` reply (null: none).
    static func entries(_ reply: RedisReply) -> [(key: [UInt8], entries: [Entry])] {
        guard case .array(let streams) = reply else { return [] }
        return streams.compactMap { stream in
            guard let parts = stream.array, parts.count == 2, let key = parts[0].bytes else { return nil }
            return (key, (parts[1].array ?? []).compactMap(entry))
        }
    }

    /// One `[id, [field, value, …]]` element (a deleted entry has a null field list).
    static func entry(_ reply: RedisReply) -> Entry? {
        guard let parts = reply.array, parts.count == 2, let id = parts[0].text.flatMap(StreamID.init) else { return nil }
        // A deleted entry still pending has a null field list: no event.
        let values = parts[1].array ?? []
        var event: [UInt8]?
        var index = 0
        while index + 1 < values.count {
            if values[index].bytes == eventField { event = values[index + 1].bytes }
            index += 2
        }
        return Entry(id: id, event: event)
    }

    /// What `XINFO STREAM` says about trimming.
    struct StreamInfo {
        var length: Int64
        var entriesAdded: Int64?
        var maxDeletedID: StreamID?
        var firstKept: StreamID?

        /// Whether entries after `position` were trimmed away before a reader got them.
        func trimmed(after position: StreamID) -> Bool {
            if let maxDeletedID, maxDeletedID != .zero { return maxDeletedID > position }
            // Redis 7.0's `MAXLEN ~` leaves max-deleted-entry-id at 0-0: compare with the first kept.
            guard let entriesAdded, entriesAdded > length, let firstKept else { return false }
            return position < firstKept.predecessor
        }
    }

    /// An `XINFO STREAM` reply (a flat list of names and values); `nil` for anything else.
    static func info(_ reply: RedisReply) -> StreamInfo? {
        guard let fields = reply.fieldMap else { return nil }
        guard let length = fields["length"]?.integer else { return nil }
        let recorded = fields["recorded-first-entry-id"]?.text.flatMap(StreamID.init)
        let first = fields["first-entry"].flatMap(entry)?.id
        return StreamInfo(
            length: length,
            entriesAdded: fields["entries-added"]?.integer,
            maxDeletedID: fields["max-deleted-entry-id"]?.text.flatMap(StreamID.init),
            firstKept: length > 0 ? (first ?? recorded) : nil)
    }
}
