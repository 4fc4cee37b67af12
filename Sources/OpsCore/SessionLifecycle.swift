public import Logging
public import Redis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The session lifecycle: start, update, get, end, delete, list and expire.
///
/// Every method **blocks the calling thread** on Redis; call it from a thread
/// of your own (the `opscore` worker runs one thread per request slot), not from
/// Swift concurrency's cooperative pool. Inputs are checked before anything is
/// sent; refused changes write nothing and publish nothing.
public final class SessionLifecycle: Sendable {
    /// The storage underneath.
    public let store: SessionStore
    /// The agent registry.
    public let agents: AgentRegistry
    /// The host name written as `origin` in events.
    public let origin: String
    let logger: Logger
    private let combiner = UpdateCombiner()

    /// Creates a lifecycle over a pool.
    /// - Parameters:
    ///   - pool: The connections to use.
    ///   - namespace: The key namespace, `opscore` by default.
    ///   - retry: How aborted transactions are retried.
    ///   - origin: The writer name for events (1 to 256 bytes, no control characters);
    ///     this machine's host name by default.
    ///   - logger: Where debug logs go; never receives metadata contents.
    ///   - waitReplicas: Replicas that must confirm every write (`WAIT`); 0 for none.
    /// - Throws: ``OpsCoreError/invalidInput(field:reason:)`` for a namespace that is not
    ///   1 to 64 characters of `[A-Za-z0-9_.-]`, or an unusable origin.
    public init(
        pool: RedisConnectionPool, namespace: String = "opscore", retry: RedisRetryPolicy = .default,
        origin: String? = nil, logger: Logger = Logger(label: "opscore"), waitReplicas: Int = 0
    ) throws(OpsCoreError) {
        let keys = try KeySpace(namespace: namespace)
        if let origin { try SessionValidation.checkIdentifier(origin, field: "origin") }
        store = SessionStore(pool: pool, keys: keys, retry: retry, waitReplicas: waitReplicas)
        agents = AgentRegistry(store: store)
        self.origin = origin ?? Self.hostName()
        self.logger = logger
    }

    /// Starts a session for a registered agent. Two round trips.
    /// - Parameters:
    ///   - agentID: The agent; must be registered when the session commits.
    ///   - workflowID: The workflow.
    ///   - metadata: Initial metadata, a JSON object of at most 64 KiB.
    ///   - sessionID: The id to use; a new random one by default.
    /// - Returns: The new session, `active` at version 1.
    /// - Throws: ``OpsCoreError`` `invalidInput`, `agentNotRegistered`, `sessionExists`, `conflict`, `redis`.
    public func startSession(agentID: String, workflowID: String, metadata: [String: JSONValue] = [:], sessionID: SessionID? = nil) throws(OpsCoreError) -> Session {
        try SessionValidation.checkIdentifier(agentID, field: "agent_id")
        try SessionValidation.checkIdentifier(workflowID, field: "workflow_id")
        let id = sessionID ?? .random()
        let session = try store.create(id: id, agentID: agentID, workflowID: workflowID, metadata: metadata, origin: origin)
        logger.debug("session started", metadata: ["session_id": "\(id)", "agent_id": "\(agentID)"])
        return session
    }

    /// Applies a status change and/or metadata merge patch. Two round trips when uncontended.
    ///
    /// A change to `completed`, `failed` or `cancelled` announces `session.ended`;
    /// any other change `session.updated`.
    /// - Throws: ``OpsCoreError`` `invalidInput` (empty update, status `expired`, metadata
    ///   too large), `sessionNotFound`, `versionMismatch`, `invalidTransition`, `conflict`,
    ///   `corruptSession`, `redis`.
    public func updateSession(_ id: SessionID, _ update: SessionUpdate) throws(OpsCoreError) -> Session {
        guard update.status != nil || update.metadataPatch != nil else {
            throw .invalidInput(field: "update", reason: "names neither a status nor metadata")
        }
        if update.status == .expired {
            throw .invalidInput(field: "status", reason: "expired is set only by the idle-session sweep")
        }
        if let patch = update.metadataPatch { _ = try SessionValidation.serializedMetadata(patch) }
        let session = try combiner.submit(id, update) { batch in apply(batch, to: id) }
        logger.debug("session updated", metadata: ["session_id": "\(id)", "agent_id": "\(session.agentID)", "version": "\(session.version)"])
        return session
    }

    /// Reads a session. One round trip.
    /// - Throws: ``OpsCoreError`` `sessionNotFound`, `corruptSession`, `redis`.
    public func getSession(_ id: SessionID) throws(OpsCoreError) -> Session {
        guard let session = try store.read(id) else { throw .sessionNotFound(id) }
        return session
    }

    /// Ends a session as `completed`, `failed` or `cancelled`. Two round trips.
    /// - Throws: ``OpsCoreError`` `invalidInput` (another status), `sessionNotFound`,
    ///   `invalidTransition` (already ended or expired), `conflict`, `corruptSession`, `redis`.
    public func endSession(_ id: SessionID, status: SessionStatus = .completed) throws(OpsCoreError) -> Session {
        guard status.isEnding else {
            throw .invalidInput(field: "status", reason: "an ending status is completed, failed or cancelled, not \(status.rawValue)")
        }
        let session = try store.modify(id) { current, now throws(OpsCoreError) in
            guard current.status.canTransition(to: status) else {
                throw .invalidTransition(from: current.status, to: status)
            }
            var next = current
            next.status = status
            return self.change(from: current, to: next, changed: [SessionHash.status], at: now, kind: .ended)
        }
        logger.debug("session ended", metadata: ["session_id": "\(id)", "agent_id": "\(session.agentID)"])
        return session
    }

    /// Deletes a session and its index entries and announces `session.deleted`. Two round trips.
    /// - Throws: ``OpsCoreError`` `sessionNotFound`, `conflict`, `redis`.
    public func deleteSession(_ id: SessionID) throws(OpsCoreError) {
        let deleted = try store.delete(id, origin: origin)
        logger.debug("session deleted", metadata: ["session_id": "\(id)", "agent_id": "\(deleted?.agentID ?? "-")"])
    }

    /// An agent's sessions, newest first, from the agent's index (never SCAN or KEYS).
    /// - Parameters:
    ///   - agentID: The agent.
    ///   - limit: The most sessions to return (1 to 10,000).
    /// - Returns: The sessions that could be read, and one `corruptSession` error per
    ///   hash that could not (say, written by another tool).
    /// - Throws: ``OpsCoreError`` `invalidInput`, `redis`.
    public func listSessions(agent agentID: String, limit: Int = 100) throws(OpsCoreError) -> SessionListing {
        try SessionValidation.checkIdentifier(agentID, field: "agent_id")
        guard (1...10_000).contains(limit) else { throw .invalidInput(field: "limit", reason: "must be from 1 to 10000") }
        return try store.list(agentID: agentID, limit: limit)
    }

    /// Builds the committed form of a change: version +1, last update now, the event.
    func change(from current: Session, to next: Session, changed: [String], at now: Timestamp, kind: SessionEvent.Kind) -> SessionChange {
        var next = next
        next.version = current.version + 1
        next.lastUpdatedTime = max(now, current.lastUpdatedTime)
        let fields = changed + [SessionHash.lastUpdatedTime, SessionHash.version]
        let event = SessionEvent(
            kind: kind, sessionID: next.id, agentID: next.agentID, workflowID: next.workflowID, status: next.status,
            previousStatus: current.status, version: next.version, changed: fields, at: next.lastUpdatedTime, origin: origin)
        return SessionChange(session: next, events: [event], changedFields: fields)
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
