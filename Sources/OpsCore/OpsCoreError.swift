public import Redis

/// An error from OpsCore that callers branch on; ``code`` is the stable
/// machine-readable name the worker and CLI report.
public enum OpsCoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Input refused before touching Redis: which field, and why.
    case invalidInput(field: String, reason: String)
    /// The agent is not in the agents set.
    case agentNotRegistered(agentID: String)
    /// No session has this id.
    case sessionNotFound(SessionID)
    /// A session with this id exists already.
    case sessionExists(SessionID)
    /// The status change is not allowed.
    case invalidTransition(from: SessionStatus, to: SessionStatus)
    /// The session was not at the expected version.
    case versionMismatch(expected: Int64, actual: Int64)
    /// Concurrent writers aborted every attempt.
    case conflict(attempts: Int)
    /// A session hash misses a field or holds a malformed value.
    case corruptSession(key: String, field: String, reason: String)
    /// A command inside `EXEC` failed (say, an index key of the wrong type written
    /// by another tool) while the rest of the change committed. Never retried.
    case partiallyApplied(command: String, key: String, reason: String)
    /// The change committed on the primary, but fewer replicas than required
    /// confirmed it within the command timeout (`WAIT`): it may be lost in a failover.
    case notReplicated(acknowledged: Int, required: Int, reason: String?)
    /// The namespace's keys are not in the layout this build writes (layout 1 without
    /// meta, or another layout in `<ns>:meta`): nothing is written until `opscore migrate`.
    case layoutMismatch(String)
    /// Redis could not be used: unreachable, timed out, refused credentials or permission.
    case redis(RedisError)

    /// The stable error code: `invalid_input`, `agent_not_registered`, `session_not_found`,
    /// `session_exists`, `invalid_transition`, `version_mismatch`, `conflict`,
    /// `corrupt_session`, `partially_applied`, `layout_mismatch`, `not_replicated`, `redis_unavailable`,
    /// `redis_timeout`, `redis_denied`.
    public var code: String {
        switch self {
        case .invalidInput: return "invalid_input"
        case .agentNotRegistered: return "agent_not_registered"
        case .sessionNotFound: return "session_not_found"
        case .sessionExists: return "session_exists"
        case .invalidTransition: return "invalid_transition"
        case .versionMismatch: return "version_mismatch"
        case .conflict: return "conflict"
        case .corruptSession: return "corrupt_session"
        case .partiallyApplied: return "partially_applied"
        case .layoutMismatch: return "layout_mismatch"
        case .notReplicated: return "not_replicated"
        case .redis(let error):
            switch error.kind {
            case .timeout: return "redis_timeout"
            case .authenticationFailed, .permissionDenied: return "redis_denied"
            default: return "redis_unavailable"
            }
        }
    }

    /// A one-line message for people; never contains metadata contents or passwords.
    public var description: String {
        switch self {
        case .invalidInput(let field, let reason): return "invalid \(field): \(reason)"
        case .agentNotRegistered(let agentID): return "agent \(Self.quoted(agentID)) is not registered"
        case .sessionNotFound(let id): return "session \(id) not found"
        case .sessionExists(let id): return "session \(id) already exists"
        case .invalidTransition(let from, let to): return "cannot change status from \(from.rawValue) to \(to.rawValue)"
        case .versionMismatch(let expected, let actual): return "version mismatch: expected \(expected), session is at \(actual)"
        case .conflict(let attempts): return "gave up after \(attempts) attempts aborted by concurrent writes"
        case .corruptSession(let key, let field, let reason): return "corrupt session \(Self.quoted(key)): field \(field) \(reason)"
        case .partiallyApplied(let command, let key, let reason):
            return "change partially applied: \(command) on key \(Self.quoted(key)) failed (\(reason)) after the rest of the change committed; not retried"
        case .layoutMismatch(let reason): return "refusing to write: \(reason)"
        case .notReplicated(let acknowledged, let required, let reason):
            return "committed on the primary but confirmed by \(acknowledged) of \(required) required replicas"
                + (reason.map { " (\($0))" } ?? "")
                + "; it may be lost in a failover: re-check it, or retry it safely with --expect-version"
        case .redis(let error):
            switch error.kind {
            case .timeout: return "Redis timed out: \(error.message)"
            case .authenticationFailed: return "Redis refused authentication: \(error.message)"
            case .permissionDenied: return "Redis denied permission: \(error.message)"
            case .outcomeUnknown: return "Redis connection lost during commit; the change may or may not have been applied"
            default: return "Redis unavailable: \(error.message)"
            }
        }
    }

    /// Quotes text for one-line messages, escaping control characters.
    static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        JSONValue.writeString(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Maps an error from a pooled Redis call: OpsCore's own errors pass through,
    /// the Redis layer's become ``redis(_:)``.
    init(mapping error: any Error) {
        switch error {
        case let error as OpsCoreError: self = error
        case let error as RedisError where error.kind == .partiallyApplied:
            self = .partiallyApplied(
                command: error.failedCommand ?? "?", key: error.failedKey ?? "?",
                reason: error.serverError?.description ?? error.message)
        case let error as RedisError: self = .redis(error)
        default: self = .redis(RedisError(.unexpectedReply, "\(error)"))
        }
    }
}

extension RedisConnectionPool {
    /// ``withConnection(_:)`` with its errors mapped to ``OpsCoreError``.
    @discardableResult
    func withOpsConnection<Result>(routingKey key: [UInt8]? = nil, _ body: (RedisConnection) throws -> Result) throws(OpsCoreError) -> Result {
        do {
            // Only a Cluster routes: elsewhere no key array is built.
            guard let key, router != nil else { return try withConnection(body) }
            return try withConnection(routingKeys: [key], body)
        } catch {
            throw OpsCoreError(mapping: error)
        }
    }

    /// ``pipeline(routing:readOnly:after:)`` with its errors mapped to ``OpsCoreError``.
    func opsPipeline(
        routing commands: [(key: [UInt8], command: RedisCommand)], readOnly: Bool? = nil,
        after: (RedisConnection) throws -> Void = { _ in }
    ) throws(OpsCoreError) -> [RedisReply] {
        do {
            return try pipeline(routing: commands, readOnly: readOnly, after: after)
        } catch {
            throw OpsCoreError(mapping: error)
        }
    }
}
