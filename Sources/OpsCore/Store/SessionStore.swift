public import Redis
import Synchronization

/// Sessions as Redis hashes, changed only under WATCH/MULTI/EXEC.
///
/// Every method **blocks the calling thread** on Redis (through the pool);
/// call it from a thread of your own, not from Swift concurrency's cooperative pool.
/// Every write keeps the agent index and the by-update index of the session's
/// partition in the same MULTI as the hash, and appends its event to the
/// partition's stream (`XADD … MAXLEN ~ events_maxlen`) and publishes it inside
/// that MULTI, so an event exists if and only if the change committed. Before
/// its first write a store checks (once) that the namespace is in layout 2,
/// writing `<ns>:meta` when it is the namespace's first writer.
public final class SessionStore: Sendable {
    /// The pool every operation borrows from.
    public let pool: RedisConnectionPool
    /// The keys of this store's namespace.
    public let keys: KeySpace
    /// How aborted transactions are retried.
    public let retry: RedisRetryPolicy
    private let attemptCounter = Atomic<Int>(0)
    private let commitCounter = Atomic<Int>(0)
    private let metaCheck = KeySpaceMetaCheck()
    /// Replicas that must confirm every write (`WAIT`); 0 for none.
    public let waitReplicas: Int
    /// Threads for the `async` API, one per pooled connection; they start on first use.
    public let executor: BlockingExecutor

    /// Creates a store.
    /// - Parameter waitReplicas: Replicas that must confirm every write: after each
    ///   committed write the store sends `WAIT waitReplicas <command timeout>` on the
    ///   same connection; fewer confirmations give ``OpsCoreError/notReplicated(acknowledged:required:reason:)``.
    public init(pool: RedisConnectionPool, keys: KeySpace, retry: RedisRetryPolicy = .default, waitReplicas: Int = 0) {
        self.pool = pool
        self.keys = keys
        self.retry = retry
        self.waitReplicas = max(0, waitReplicas)
        executor = BlockingExecutor(threads: pool.size, name: "opscore-io")
    }

    /// Transaction attempts and commits so far; `attempts - commits` were aborted or refused.
    public var transactionCounts: (attempts: Int, commits: Int) {
        (attemptCounter.load(ordering: .relaxed), commitCounter.load(ordering: .relaxed))
    }

    /// The namespace's meta, checked to be layout 2 before the first write (one
    /// round trip the first time, none after). A namespace without meta gets the
    /// defaults, and its meta hash is written after the first committed write.
    /// - Throws: ``OpsCoreError`` `layoutMismatch`, `redis`.
    @discardableResult
    public func meta() throws(OpsCoreError) -> KeySpaceMeta {
        try metaCheck.meta(keys, pool: pool)
    }

    /// Writes the namespace's meta hash unless it exists (`opscore init`); returns it as stored.
    /// - Parameter eventsMaxLength: About how many entries each partition's stream keeps.
    /// - Throws: ``OpsCoreError`` `layoutMismatch` (nothing is written then), `redis`.
    public func createMeta(eventsMaxLength: Int) throws(OpsCoreError) -> KeySpaceMeta {
        try metaCheck.create(keys, pool: pool, eventsMaxLength: eventsMaxLength)
    }

    /// Called after a committed write: writes the meta hash if the namespace had none.
    func noteCommittedWrite() {
        metaCheck.committed(keys, pool: pool)
    }

    /// A Cluster slot is being migrated and this work must wait for its end: thrown as the
    /// server's own `TRYAGAIN`, which the router answers with a pause and a new try.
    static let migrating = RedisError(RedisServerError(code: "TRYAGAIN", message: "the slot is migrating; waiting for the migration to finish"))

    /// Reads one session. One round trip.
    ///
    /// The reply is decoded where it lies in the connection's read buffer (no
    /// reply value per field); anything but an array of bulk strings is handled
    /// as a reply value.
    /// - Returns: `nil` when there is no such session.
    /// - Throws: ``OpsCoreError`` `corruptSession` or `redis`.
    public func read(_ id: SessionID) throws(OpsCoreError) -> Session? {
        let key = keys.session(id)
        let read = try run(routingKey: key) { connection in
            var read = HashRead.none
            try connection.send(RedisCommand("HGETALL", key), readOnly: true) { bytes in
                guard let elements = bytes.bulkStrings else {
                    read = .reply(bytes.reply)
                    return
                }
                do throws(OpsCoreError) {
                    read = try SessionHash.decode(elements: elements, key: key, expected: id).map(HashRead.session) ?? .none
                } catch {
                    read = .failure(error)
                }
            }
            switch read {
            case .reply(.error(let refusal)) where refusal.code != "WRONGTYPE":
                // WRONGTYPE stays a reply (a corrupt session); other refusals (a Cluster's ASK) are thrown inside, to be followed.
                throw RedisError(refusal)
            case .none where connection.isAsking, .reply(.null) where connection.isAsking:
                // An empty read on a node importing the slot may mean "not moved yet", never "not found".
                throw Self.migrating
            default:
                return read
            }
        }
        switch read {
        case .session(let session): return session
        case .none: return nil
        case .failure(let error): throw error
        case .reply(let reply): return try SessionHash.decode(reply, key: key)
        }
    }

    /// What one `HGETALL` of a session gave.
    private enum HashRead {
        /// The session, decoded.
        case session(Session)
        /// An empty array: no such key.
        case none
        /// The fields were there but do not make a session.
        case failure(OpsCoreError)
        /// Not an array of bulk strings (an error, say), for ``SessionHash/decode(_:key:)``.
        case reply(RedisReply)
    }

    /// Creates a session if its agent is registered and its id is free. Two round trips.
    ///
    /// WATCHes the agents set and the session key, checks `SISMEMBER`, and writes
    /// the hash, the indexes and the event in one MULTI.
    /// - Parameters:
    ///   - id: The new session's id.
    ///   - agentID: The agent; must be in the agents set at commit time.
    ///   - workflowID: The workflow.
    ///   - metadata: The initial metadata (already validated).
    ///   - origin: The writer's host name, for the event.
    /// - Throws: ``OpsCoreError`` `agentNotRegistered`, `sessionExists`, `conflict`, `redis`.
    public func create(id: SessionID, agentID: String, workflowID: String, metadata: [String: JSONValue], origin: String) throws(OpsCoreError) -> Session {
        let key = keys.session(id)
        let partition = KeySpace.partition(of: id)
        let metadataBytes = try SessionValidation.serializedMetadata(metadata)
        let maxLength = try meta().eventsMaxLength
        return try transact(
            watching: [keys.agents(partition), key],
            reading: [RedisCommand("SISMEMBER", keys.agents(partition), agentID), RedisCommand("EXISTS", key), RedisCommand("TIME")]
        ) { replies throws(OpsCoreError) in
            guard replies[0].integer == 1 else { throw .agentNotRegistered(agentID: agentID) }
            guard replies[1].integer == 0 else { throw .sessionExists(id) }
            let now = try Self.time(replies[2])
            let session = Session(
                id: id, agentID: agentID, workflowID: workflowID, status: .active,
                startTime: now, lastUpdatedTime: now, metadata: metadata, version: 1)
            let event = SessionEvent(
                kind: .started, sessionID: id, agentID: agentID, workflowID: workflowID, status: .active,
                previousStatus: nil, version: 1,
                changed: SessionHash.names,
                at: now, origin: origin)
            let commands = [
                RedisCommand("HSET", [key] + SessionHash.fields(of: session, metadataBytes: metadataBytes)),
                RedisCommand("ZADD", keys.agentSessions(agentID, partition: partition), now.millisecondsSince1970, id.text),
                RedisCommand("ZADD", keys.byUpdate(partition), now.millisecondsSince1970, id.text),
            ] + announce([event], partition: partition, maxLength: maxLength)
            return .commit(commands) { _ in session }
        }
    }

    /// Changes one session under WATCH. Two round trips when uncontended.
    ///
    /// `change` sees the current session and the Redis time and returns the
    /// change to commit, or `nil` to write nothing. It is called again on every
    /// retry, with the session as it is then. A missing session is never recreated.
    /// - Throws: ``OpsCoreError`` `sessionNotFound`, `corruptSession`, `conflict`,
    ///   `redis`, and whatever `change` throws.
    public func modify(_ id: SessionID, _ change: (Session, Timestamp) throws(OpsCoreError) -> SessionChange?) throws(OpsCoreError) -> Session {
        let key = keys.session(id)
        let maxLength = try meta().eventsMaxLength
        return try transact(watching: [key], reading: [RedisCommand("HGETALL", key), RedisCommand("TIME")]) { replies throws(OpsCoreError) in
            guard let current = try SessionHash.decode(replies[0], key: key) else { throw .sessionNotFound(id) }
            let now = try Self.time(replies[1])
            guard let planned = try change(current, now) else { return .done(current) }
            return .commit(try commands(for: planned, key: key, maxLength: maxLength)) { _ in planned.session }
        }
    }

    /// Deletes a session, its index entries, and publishes `session.deleted`. Two round trips.
    ///
    /// A corrupt hash is deleted too (with its index entries where its `agent_id`
    /// is readable), without an event since its fields cannot be trusted.
    /// - Returns: The deleted session, or `nil` when it was corrupt.
    /// - Throws: ``OpsCoreError`` `sessionNotFound`, `conflict`, `redis`.
    @discardableResult
    public func delete(_ id: SessionID, origin: String) throws(OpsCoreError) -> Session? {
        let key = keys.session(id)
        let partition = KeySpace.partition(of: id)
        let maxLength = try meta().eventsMaxLength
        return try transact(
            watching: [key],
            reading: [RedisCommand("HGETALL", key), RedisCommand("TIME")]
        ) { replies throws(OpsCoreError) in
            if case .array(let fields) = replies[0], fields.isEmpty { throw .sessionNotFound(id) }
            let now = try Self.time(replies[1])
            var commands = [RedisCommand("DEL", key), RedisCommand("ZREM", keys.byUpdate(partition), id.text)]
            let session: Session?
            do {
                session = try SessionHash.decode(replies[0], key: key)
            } catch {
                session = nil
            }
            if let session {
                commands.append(RedisCommand("ZREM", keys.agentSessions(session.agentID, partition: partition), id.text))
                let event = SessionEvent(
                    kind: .deleted, sessionID: id, agentID: session.agentID, workflowID: session.workflowID,
                    status: session.status, previousStatus: session.status, version: session.version,
                    changed: [], at: now, origin: origin)
                commands += announce([event], partition: partition, maxLength: maxLength)
            } else if let agentID = SessionHash.rawField(SessionHash.agentID, in: replies[0]).flatMap({ String(validating: $0, as: UTF8.self) }) {
                commands.append(RedisCommand("ZREM", keys.agentSessions(agentID, partition: partition), id.text))
            }
            return .commit(commands) { _ in session }
        }
    }

    private func commands(for change: SessionChange, key: [UInt8], maxLength: Int) throws(OpsCoreError) -> [RedisCommand] {
        let session = change.session
        let partition = KeySpace.partition(of: session.id)
        // Built argument by argument (each appended as its own type, no existential array).
        var hset = RedisCommand("HSET", key)
        for name in change.changedFields {
            switch name {
            case SessionHash.status:
                hset.append(name)
                hset.append(session.status.rawValue)
            case SessionHash.metadata:
                hset.append(name)
                if let bytes = change.metadataBytes {
                    hset.append(bytes)
                } else {
                    hset.append(try SessionValidation.serializedMetadata(session.metadata))
                }
            case SessionHash.lastUpdatedTime:
                hset.append(name)
                hset.append(session.lastUpdatedTime.iso8601Bytes)
            case SessionHash.version:
                hset.append(name)
                hset.append(session.version)
            default: break
            }
        }
        var commands = [hset]
        commands.reserveCapacity(2 + change.events.count * 2)
        if session.status.isFinal {
            commands.append(RedisCommand("ZREM", keys.byUpdate(partition), session.id.text))
        } else {
            var zadd = RedisCommand("ZADD", keys.byUpdate(partition))
            zadd.append(session.lastUpdatedTime.millisecondsSince1970)
            zadd.append(session.id.text)
            commands.append(zadd)
        }
        appendAnnouncements(of: change.events, partition: partition, maxLength: maxLength, to: &commands)
        return commands
    }

    /// Each event appended to the partition's stream and published on the channel.
    private func announce(_ events: [SessionEvent], partition: Int, maxLength: Int) -> [RedisCommand] {
        var commands: [RedisCommand] = []
        appendAnnouncements(of: events, partition: partition, maxLength: maxLength, to: &commands)
        return commands
    }

    /// Appends, for each event, its `XADD … MAXLEN ~ maxLength * event <json>` and its `PUBLISH`.
    private func appendAnnouncements(of events: [SessionEvent], partition: Int, maxLength: Int, to commands: inout [RedisCommand]) {
        commands.reserveCapacity(commands.count + events.count * 2)
        for event in events {
            let json = event.jsonBytes
            var xadd = RedisCommand("XADD", keys.eventStream(partition))
            xadd.append("MAXLEN")
            xadd.append("~")
            xadd.append(maxLength)
            xadd.append("*")
            xadd.append("event")
            xadd.append(json)
            commands.append(xadd)
            var publish = RedisCommand("PUBLISH", keys.events)
            publish.append(json)
            commands.append(publish)
        }
    }

    /// Runs a WATCH/MULTI/EXEC transaction on one pooled connection, mapping errors.
    /// - Parameter writesMeta: Whether a committed write also writes a missing meta hash
    ///   (`false` for `migrate`, which writes it last).
    func transact<Result>(
        watching watched: [[UInt8]],
        reading reads: [RedisCommand],
        writesMeta: Bool = true,
        decide: ([RedisReply]) throws(OpsCoreError) -> RedisTransactionStep<Result>
    ) throws(OpsCoreError) -> Result {
        var wrote = false
        var replication: OpsCoreError?
        do {
            let outcome = try pool.withConnection(routingKeys: watched.isEmpty ? reads.prefix(1).compactMap(\.firstArgument) : watched) { connection in
                // On a Cluster node importing the slot, some of the partition's keys may still be
                // on the other node, where this transaction cannot see or watch them: wait until
                // the migration is done (the router pauses and tries the owner again).
                if connection.isAsking { throw Self.migrating }
                let outcome = try connection.transaction(watching: watched, reading: reads, retry: retry) { replies in
                    attemptCounter.add(1, ordering: .relaxed)
                    // An error reply to a read (NOPERM, LOADING, …) is a Redis failure, not data.
                    // WRONGTYPE stays: on a session key it means a corrupt session.
                    for reply in replies {
                        if case .error(let serverError) = reply, serverError.code != "WRONGTYPE" { throw RedisError(serverError) }
                    }
                    let step = try decide(replies)
                    if case .commit = step { wrote = true } else { wrote = false }
                    return step
                }
                // The write stands whatever WAIT says: settle the rest first, then report.
                if wrote {
                    do throws(OpsCoreError) { try confirmReplicas(on: connection) } catch { replication = error }
                }
                return outcome
            }
            commitCounter.add(1, ordering: .relaxed)
            OpsCoreMetrics.recordWatchAborts(outcome.attempts - 1)
            if wrote && writesMeta { noteCommittedWrite() }
            if let replication { throw replication }
            return outcome.value
        } catch let error as RedisError where error.kind == .transactionConflict {
            OpsCoreMetrics.recordWatchAborts(retry.maxAttempts)
            OpsCoreMetrics.recordConflict()
            throw .conflict(attempts: retry.maxAttempts)
        } catch {
            if let redisError = error as? RedisError, redisError.kind == .outcomeUnknown { OpsCoreMetrics.recordUnknownOutcome() }
            throw OpsCoreError(mapping: error)
        }
    }

    /// After a committed write: `WAIT` for ``waitReplicas`` on the connection that wrote.
    /// - Throws: ``OpsCoreError/notReplicated(acknowledged:required:reason:)`` when fewer
    ///   confirm in time, or the `WAIT` itself fails (the write stands either way).
    func confirmReplicas(on connection: RedisConnection) throws(OpsCoreError) {
        guard waitReplicas > 0 else { return }
        // A little under the socket timeout, so that WAIT answers before the socket gives up.
        let milliseconds = max(1, connection.configuration.commandTimeout.wholeMilliseconds * 9 / 10)
        do {
            let acknowledged = Int(try connection.send(RedisCommand("WAIT", waitReplicas, milliseconds)).integer ?? 0)
            if acknowledged < waitReplicas { throw OpsCoreError.notReplicated(acknowledged: acknowledged, required: waitReplicas, reason: nil) }
        } catch let error as RedisError {
            throw .notReplicated(acknowledged: 0, required: waitReplicas, reason: error.message)
        } catch {
            throw OpsCoreError(mapping: error)
        }
    }

    /// Runs plain commands on one pooled connection, mapping errors.
    @discardableResult
    func run<Result>(routingKey key: [UInt8]? = nil, _ body: (RedisConnection) throws -> Result) throws(OpsCoreError) -> Result {
        try pool.withOpsConnection(routingKey: key, body)
    }

    /// Reads a `TIME` reply as a timestamp.
    static func time(_ reply: RedisReply) throws(OpsCoreError) -> Timestamp {
        do { return try reply.redisTime() } catch { throw .redis(error) }
    }
}
