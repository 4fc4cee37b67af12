/// An agent's sessions as listed: those that could be read, newest first, and
/// one ``OpsCoreError/corruptSession(key:field:reason:)`` per hash that could not.
public struct SessionListing: Sendable, Hashable {
    /// The sessions read, newest first.
    public var sessions: [Session]
    /// One error per corrupt session hash, in index order.
    public var corrupt: [OpsCoreError]

    /// Creates a listing.
    public init(sessions: [Session], corrupt: [OpsCoreError] = []) {
        self.sessions = sessions
        self.corrupt = corrupt
    }
}
