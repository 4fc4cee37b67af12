public import Redis

/// The registered agents: an agent is registered when it is a member of all 16
/// partitions' `<namespace>:{p}:agents` sets (each session's start checks its
/// own partition's set under WATCH).
///
/// Every method **blocks the calling thread** for one round trip (the 16 sets
/// are written or read in one pipeline).
public struct AgentRegistry: Sendable {
    /// The pool the registry borrows from.
    public let pool: RedisConnectionPool
    /// The keys of the namespace.
    public let keys: KeySpace
    /// Checks the namespace's layout before the first write.
    let store: SessionStore

    /// Creates a registry.
    public init(pool: RedisConnectionPool, keys: KeySpace) {
        self.init(store: SessionStore(pool: pool, keys: keys))
    }

    /// A registry that shares `store`'s layout check.
    init(store: SessionStore) {
        pool = store.pool
        keys = store.keys
        self.store = store
    }

    /// Registers agents in all 16 partitions; registering one twice is harmless,
    /// and running it again repairs a registration that failed part way.
    /// - Returns: How many agents were newly added (missing from partition 0 before).
    /// - Throws: ``OpsCoreError`` `invalidInput` for a bad id (nothing is written then),
    ///   `layoutMismatch`, `redis` (some partitions may then be written: run it again).
    @discardableResult
    public func register(_ agentIDs: [String]) throws(OpsCoreError) -> Int {
        guard !agentIDs.isEmpty else { throw .invalidInput(field: "agent_id", reason: "no agent given") }
        for agentID in agentIDs { try SessionValidation.checkIdentifier(agentID, field: "agent_id") }
        try store.meta()
        let replies = try everyPartition(writes: true) { RedisCommand("SADD", [keys.agents($0)] + agentIDs) }
        store.noteCommittedWrite()
        return Int(replies[0].integer ?? 0)
    }

    /// Removes an agent from all 16 partitions; its existing sessions stay, but it
    /// cannot start new ones.
    /// - Returns: `true` when the agent was in some partition's set.
    /// - Throws: ``OpsCoreError`` `invalidInput`, `layoutMismatch`, `redis`.
    @discardableResult
    public func remove(_ agentID: String) throws(OpsCoreError) -> Bool {
        try SessionValidation.checkIdentifier(agentID, field: "agent_id")
        try store.meta()
        return try everyPartition(writes: true) { RedisCommand("SREM", keys.agents($0), agentID) }.contains { $0.integer == 1 }
    }

    /// The agents registered in all 16 partitions, sorted.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func list() throws(OpsCoreError) -> [String] {
        let (complete, _) = try membership()
        return complete
    }

    /// Agents present in only some partitions (a registration or removal that
    /// failed part way), sorted; `agent register` or `agent remove` repairs them.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func partiallyRegistered() throws(OpsCoreError) -> [String] {
        let (_, partial) = try membership()
        return partial
    }

    /// Whether an agent is registered (in all 16 partitions).
    /// - Throws: ``OpsCoreError`` `redis`.
    public func isRegistered(_ agentID: String) throws(OpsCoreError) -> Bool {
        try everyPartition { RedisCommand("SISMEMBER", keys.agents($0), agentID) }.allSatisfy { $0.integer == 1 }
    }

    /// Agents in all partitions, and agents in only some.
    private func membership() throws(OpsCoreError) -> (complete: [String], partial: [String]) {
        var counts: [String: Int] = [:]
        for reply in try everyPartition({ RedisCommand("SMEMBERS", keys.agents($0)) }) {
            for member in reply.array ?? [] { if let agent = member.text { counts[agent, default: 0] += 1 } }
        }
        let complete = counts.filter { $0.value == KeySpace.partitionCount }.keys.sorted()
        let partial = counts.filter { $0.value < KeySpace.partitionCount }.keys.sorted()
        return (complete, partial)
    }

    /// One command per partition, pipelined; an error reply in any of them is thrown.
    /// Writes are then confirmed by the store's required replicas.
    private func everyPartition(writes: Bool = false, _ command: (Int) -> RedisCommand) throws(OpsCoreError) -> [RedisReply] {
        let commands = KeySpace.partitions.map(command).map { (key: $0.firstArgument ?? [], command: $0) }
        let store = store
        let replies = try pool.opsPipeline(routing: commands) { connection in
            if writes { try store.confirmReplicas(on: connection) }
        }
        for reply in replies {
            if case .error(let serverError) = reply { throw .redis(RedisError(serverError)) }
        }
        return replies
    }
}
