/// A change to a session: a status, a metadata merge patch, or both, optionally
/// only if the session is still at an expected version.
public struct SessionUpdate: Sendable, Hashable {
    /// The new status, or `nil` to keep it.
    public var status: SessionStatus?
    /// A JSON Merge Patch (RFC 7386) object for the metadata, or `nil` to keep it.
    public var metadataPatch: [String: JSONValue]?
    /// Apply only if the session's version is this; `nil` to apply whatever the version.
    public var expectedVersion: Int64?

    /// Creates an update.
    public init(status: SessionStatus? = nil, metadataPatch: [String: JSONValue]? = nil, expectedVersion: Int64? = nil) {
        self.status = status
        self.metadataPatch = metadataPatch
        self.expectedVersion = expectedVersion
    }
}
