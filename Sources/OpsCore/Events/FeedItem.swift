/// One thing the event feed has to say.
public enum FeedItem: Sendable {
    /// A committed change, read from a partition's stream.
    case event(FeedEntry)
    /// A partition's stream no longer holds entries after the reader's position:
    /// they were trimmed (`MAXLEN ~ events_maxlen`). Reading goes on from `firstKept`.
    case gap(partition: Int, firstKept: StreamID)
    /// The connection was lost; the reader reconnects and resumes where it was.
    case disconnected(OpsCoreError)
    /// The reader is connected again and resumes from its position.
    case reconnected
}

/// One entry of a partition's event stream.
public struct FeedEntry: Sendable {
    /// The partition (0 to 15) whose stream held it.
    public var partition: Int
    /// The stream entry id.
    public var streamID: StreamID
    /// The event JSON as stored in the entry's `event` field.
    public var payload: [UInt8]

    /// The event, when the payload is a session event.
    public var event: SessionEvent? { SessionEvent(json: payload) }

    /// The event JSON with `"stream_id":"<ms>-<seq>"` added, as `watch` and
    /// `consume` print it; `nil` when the payload is not a one-line JSON object.
    public var jsonWithStreamID: [UInt8]? {
        guard payload.last == UInt8(ascii: "}"), payload.first == UInt8(ascii: "{"),
              !payload.contains(UInt8(ascii: "\n")) else { return nil }
        var bytes = Array(payload.dropLast())
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        bytes += Array("\"stream_id\":\"\(streamID)\"}".utf8)
        return bytes
    }
}
