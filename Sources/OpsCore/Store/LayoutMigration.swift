import Redis

/// Moves a namespace from layout 1 (`<ns>:session:<id>`, `<ns>:agents`,
/// `<ns>:agent:<id>:sessions`, `<ns>:sessions:by_update`) to layout 2.
///
/// Each session is moved in one transaction (its hash copied field for field,
/// byte for byte, its index entries rebuilt in its partition, its old key and
/// old index entries removed), so a run killed midway leaves every session
/// either moved or not, and running it again completes the move. The agents
/// are copied to all 16 partitions' sets; the old keys go last; `<ns>:meta` is
/// written at the very end, so clients refuse to write until the move is done.
/// This is the only code that uses `SCAN`. **Blocks the calling thread.** Runs
/// on a single server (layout 1 never ran on a Cluster).
public struct LayoutMigration: Sendable {
    /// What a run did.
    public struct Report: Sendable, Hashable {
        /// Sessions moved by this run.
        public var sessionsMoved = 0
        /// Agents written to the 16 partitions' sets.
        public var agents = 0
        /// Layout-1 keys removed at the end (agents set, indexes).
        public var keysRemoved = 0
        /// Layout-1 session keys left in place because they are no hash or lack a valid
        /// id; named here so an operator can look at them.
        public var skippedKeys: [String] = []
    }

    private let store: SessionStore
    private var keys: KeySpace { store.keys }

    /// Creates a migration for the store's namespace.
    public init(store: SessionStore) {
        self.store = store
    }

    /// Runs the migration (idempotent: a second run changes nothing).
    /// - Parameter progress: Called after each batch of moved sessions with the count so far.
    /// - Returns: What this run did.
    /// - Throws: ``OpsCoreError`` `layoutMismatch` when meta names a layout other than 1 or 2, `redis`.
    @discardableResult
    public func run(progress: (Int) -> Void = { _ in }) throws(OpsCoreError) -> Report {
        let metaReply = try store.run { try $0.send(RedisCommand("HGET", keys.meta, "layout")) }
        if let layout = metaReply.text, layout != "\(KeySpaceMeta.currentLayout)" {
            throw .layoutMismatch("namespace \(keys.namespace) says layout \(layout); this build migrates layout 1 to layout 2 only")
        }
        var report = Report()
        try copyAgents(into: &report)
        try scan(match: "\(keys.namespace):session:*") { key throws(OpsCoreError) in
            let suffix = key.dropFirst("\(keys.namespace):session:".utf8.count)
            guard let id = SessionID(String(decoding: suffix, as: UTF8.self)), id.text.utf8.elementsEqual(suffix) else {
                report.skippedKeys.append(String(decoding: key, as: UTF8.self))
                return
            }
            switch try move(id, from: key) {
            case .moved:
                report.sessionsMoved += 1
                if report.sessionsMoved % 100 == 0 { progress(report.sessionsMoved) }
            case .gone:
                break  // moved by a concurrent run
            case .notAHash:
                report.skippedKeys.append(String(decoding: key, as: UTF8.self))
            }
        }
        var leftovers: [[UInt8]] = [keys.layout1Agents, keys.layout1ByUpdate]
        try scan(match: "\(keys.namespace):agent:*:sessions") { key throws(OpsCoreError) in leftovers.append(key) }
        for key in leftovers {
            report.keysRemoved += Int(try store.run { try $0.send(RedisCommand("DEL", key)) }.integer ?? 0)
        }
        _ = try store.createMeta(eventsMaxLength: KeySpaceMeta.defaultEventsMaxLength)
        progress(report.sessionsMoved)
        return report
    }

    /// Copies the layout-1 agents set into the 16 partitions' sets (idempotent).
    private func copyAgents(into report: inout Report) throws(OpsCoreError) {
        let members = (try store.run { try $0.send(RedisCommand("SMEMBERS", keys.layout1Agents)) }.array ?? []).compactMap(\.bytes)
        report.agents = members.count
        guard !members.isEmpty else { return }
        let replies = try store.run { connection in
            try connection.pipeline(KeySpace.partitions.map { RedisCommand("SADD", [keys.agents($0)] + members) })
        }
        // A refused SADD (WRONGTYPE, NOPERM) must stop the run before the old set is deleted.
        for reply in replies {
            if case .error(let serverError) = reply { throw .redis(RedisError(serverError)) }
        }
    }

    private enum MoveOutcome { case moved, gone, notAHash }

    /// Moves one session in one transaction.
    private func move(_ id: SessionID, from oldKey: [UInt8]) throws(OpsCoreError) -> MoveOutcome {
        let newKey = keys.session(id)
        let partition = KeySpace.partition(of: id)
        return try store.transact(watching: [oldKey, newKey], reading: [RedisCommand("HGETALL", oldKey), RedisCommand("TYPE", oldKey)], writesMeta: false) { replies throws(OpsCoreError) in
            guard replies[1].text == "hash", let pairs = replies[0].array, !pairs.isEmpty else {
                return .done(replies[1].text == "none" ? .gone : .notAHash)
            }
            var commands = [RedisCommand("DEL", newKey), RedisCommand("HSET", [newKey] + pairs.compactMap(\.bytes))]
            commands.append(RedisCommand("DEL", oldKey))
            commands.append(RedisCommand("ZREM", keys.layout1ByUpdate, id.text))
            let field = { (name: String) in SessionHash.rawField(name, in: replies[0]).map { String(decoding: $0, as: UTF8.self) } }
            let startMilliseconds = field(SessionHash.startTime).flatMap { Timestamp(iso8601: Array($0.utf8)) }?.millisecondsSince1970
            if let agentID = field(SessionHash.agentID) {
                commands.append(RedisCommand("ZREM", keys.layout1AgentSessions(agentID), id.text))
                commands.append(RedisCommand("ZADD", keys.agentSessions(agentID, partition: partition), startMilliseconds ?? 0, id.text))
            }
            if let status = field(SessionHash.status).flatMap(SessionStatus.init(rawValue:)), !status.isFinal {
                let updated = field(SessionHash.lastUpdatedTime).flatMap { Timestamp(iso8601: Array($0.utf8)) }?.millisecondsSince1970
                commands.append(RedisCommand("ZADD", keys.byUpdate(partition), updated ?? startMilliseconds ?? 0, id.text))
            }
            return .commit(commands) { _ in .moved }
        }
    }

    /// Calls `visit` with every key matching `pattern` (`SCAN`, 500 at a time).
    private func scan(match pattern: String, _ visit: ([UInt8]) throws(OpsCoreError) -> Void) throws(OpsCoreError) {
        var cursor = "0"
        repeat {
            let reply = try store.run { try $0.send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", 500)) }
            guard let parts = reply.array, parts.count == 2, let next = parts[0].text else {
                throw .redis(RedisError(.unexpectedReply, "SCAN returned neither a cursor nor keys"))
            }
            for key in (parts[1].array ?? []).compactMap(\.bytes) { try visit(key) }
            cursor = next
        } while cursor != "0"
    }
}
