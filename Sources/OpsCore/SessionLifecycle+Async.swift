import Redis

/// The `async` API: each call runs its blocking counterpart on the store's
/// ``SessionStore/executor`` (threads of its own, one per pooled connection), so
/// a Swift service calls it from tasks without ever blocking the cooperative pool.
///
/// Cancellation drops a call that has not started (it throws `CancellationError`
/// and sends nothing); a call that has started runs to its end, so a connection is
/// never left inside a transaction, and its result is returned.
extension SessionLifecycle {
    /// Starts a session; see ``startSession(agentID:workflowID:metadata:sessionID:)``.
    public func startSession(agentID: String, workflowID: String, metadata: [String: JSONValue] = [:], sessionID: SessionID? = nil) async throws -> Session {
        try await store.executor.run { try self.startSession(agentID: agentID, workflowID: workflowID, metadata: metadata, sessionID: sessionID) }
    }

    /// Updates a session; see ``updateSession(_:_:)``.
    public func updateSession(_ id: SessionID, _ update: SessionUpdate) async throws -> Session {
        try await store.executor.run { try self.updateSession(id, update) }
    }

    /// Reads a session; see ``getSession(_:)``.
    public func getSession(_ id: SessionID) async throws -> Session {
        try await store.executor.run { try self.getSession(id) }
    }

    /// Ends a session; see ``endSession(_:status:)``.
    public func endSession(_ id: SessionID, status: SessionStatus = .completed) async throws -> Session {
        try await store.executor.run { try self.endSession(id, status: status) }
    }

    /// Deletes a session; see ``deleteSession(_:)``.
    public func deleteSession(_ id: SessionID) async throws {
        try await store.executor.run { try self.deleteSession(id) }
    }

    /// Lists an agent's sessions; see ``listSessions(agent:limit:)``.
    public func listSessions(agent agentID: String, limit: Int = 100) async throws -> SessionListing {
        try await store.executor.run { try self.listSessions(agent: agentID, limit: limit) }
    }
}

extension AgentRegistry {
    /// Registers agents; see ``register(_:)``.
    @discardableResult
    public func register(_ agentIDs: [String]) async throws -> Int {
        try await store.executor.run { try self.register(agentIDs) }
    }

    /// Removes an agent; see ``remove(_:)``.
    @discardableResult
    public func remove(_ agentID: String) async throws -> Bool {
        try await store.executor.run { try self.remove(agentID) }
    }

    /// The registered agents; see ``list()``.
    public func list() async throws -> [String] {
        try await store.executor.run { try self.list() }
    }
}
