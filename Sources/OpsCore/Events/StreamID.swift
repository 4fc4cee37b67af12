/// A Redis stream entry id, `<ms>-<seq>`, ordered as Redis orders them.
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds (the Redis clock when the entry was added).
    public var milliseconds: UInt64
    /// The sequence number within that millisecond.
    public var sequence: UInt64

    /// Creates an id from its parts.
    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `<ms>-<seq>` (or `<ms>`, meaning sequence 0); `nil` for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard let milliseconds = parts.first.flatMap({ UInt64($0) }) else { return nil }
        let sequence = parts.count == 2 ? UInt64(parts[1]) : 0
        guard let sequence else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    /// `0-0`: before every entry.
    public static let zero = StreamID(milliseconds: 0, sequence: 0)

    /// The id just before this one, so that reading "after" it starts at this one.
    public var predecessor: StreamID {
        if sequence > 0 { return StreamID(milliseconds: milliseconds, sequence: sequence - 1) }
        if milliseconds > 0 { return StreamID(milliseconds: milliseconds - 1, sequence: .max) }
        return self
    }

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}
