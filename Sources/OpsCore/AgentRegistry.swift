public import Redis

/// The registered agents: members of the `<namespace>:agents` set.
///
/// Every method **blocks the calling thread** for one round trip.
public struct AgentRegistry: Sendable {
    /// The pool the registry borrows from.
    public let pool: RedisConnectionPool
    /// The keys of the namespace.
    public let keys: KeySpace

    /// Creates a registry.
    public init(pool: RedisConnectionPool, keys: KeySpace) {
        self.pool = pool
        self.keys = keys
    }

    /// Registers agents; registering one twice is harmless.
    /// - Returns: How many were newly added.
    /// - Throws: ``OpsCoreError`` `invalidInput` for a bad id (nothing is written then), `redis`.
    @discardableResult
    public func register(_ agentIDs: [String]) throws(OpsCoreError) -> Int {
        guard !agentIDs.isEmpty else { throw .invalidInput(field: "agent_id", reason: "no agent given") }
        for agentID in agentIDs { try SessionValidation.checkIdentifier(agentID, field: "agent_id") }
        return Int(try send(RedisCommand("SADD", [keys.agents] + agentIDs)).integer ?? 0)
    }

    /// Removes an agent; its existing sessions stay, but it cannot start new ones.
    /// - Returns: `true` when the agent was registered.
    /// - Throws: ``OpsCoreError`` `invalidInput`, `redis`.
    @discardableResult
    public func remove(_ agentID: String) throws(OpsCoreError) -> Bool {
        try SessionValidation.checkIdentifier(agentID, field: "agent_id")
        return try send(RedisCommand("SREM", keys.agents, agentID)).integer == 1
    }

    /// All registered agents, sorted.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func list() throws(OpsCoreError) -> [String] {
        (try send(RedisCommand("SMEMBERS", keys.agents)).array ?? []).compactMap(\.text).sorted()
    }

    /// Whether an agent is registered.
    /// - Throws: ``OpsCoreError`` `redis`.
    public func isRegistered(_ agentID: String) throws(OpsCoreError) -> Bool {
        try send(RedisCommand("SISMEMBER", keys.agents, agentID)).integer == 1
    }

    private func send(_ command: RedisCommand) throws(OpsCoreError) -> RedisReply {
        try pool.withOpsConnection { try $0.send(command) }
    }
}
