/// What one pass of the idle-session sweep did.
public struct IdleSweepReport: Sendable {
    /// One candidate the pass could not handle; it stays in the index for the next pass.
    public struct Failure: Sendable, Hashable {
        /// The session the index entry names.
        public var sessionID: SessionID
        /// Why it could not be handled.
        public var error: OpsCoreError
    }

    /// The sessions this pass moved to `expired`, oldest update first.
    public var expired: [Session] = []
    /// Index entries removed because they name no live session: members that are
    /// no session id, sessions that are gone, frozen or corrupt.
    public var removedEntries = 0
    /// Index entries whose score was older than their session's `last_updated_time`,
    /// raised to it (the session was not idle after all).
    public var rescoredEntries = 0
    /// Candidates that failed; the pass went on without them.
    public var failures: [Failure] = []

    /// Creates an empty report.
    public init() {}
}
