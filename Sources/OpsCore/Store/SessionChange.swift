/// A planned change to one session: the session after it, the events that
/// announce it (one per version step), and the hash fields it writes.
public struct SessionChange: Sendable {
    /// The session after the change.
    public var session: Session
    /// The events published with the change, in version order.
    public var events: [SessionEvent]
    /// The hash fields written: some of `status`, `metadata`, `last_updated_time`, `version`.
    public var changedFields: [String]
    /// The serialized metadata, when the change already has it (it was size-checked).
    public var metadataBytes: [UInt8]?

    /// Creates a change.
    public init(session: Session, events: [SessionEvent], changedFields: [String], metadataBytes: [UInt8]? = nil) {
        self.session = session
        self.events = events
        self.changedFields = changedFields
        self.metadataBytes = metadataBytes
    }

    /// Folds a later change into this one: the later session, both events, all fields.
    mutating func append(_ later: SessionChange) {
        session = later.session
        if later.changedFields.contains(SessionHash.metadata) { metadataBytes = later.metadataBytes }
        events += later.events
        for field in later.changedFields where !changedFields.contains(field) { changedFields.append(field) }
    }
}
