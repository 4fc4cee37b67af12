import Foundation
import Synchronization

/// Sends work to the Cluster primary that owns a slot, with a connection pool per primary.
///
/// The slot map comes from `CLUSTER SLOTS`, asked of the known primaries and then
/// the seeds. ``withConnection(slot:_:)`` lends a connection of the slot's owner and
/// follows the cluster's refusals, none of which ran anything: `MOVED` (the map is
/// refreshed, then the work runs on the new owner), `ASK` (the work runs on the
/// importing node with `ASKING`, see ``RedisConnection/isAsking``), `TRYAGAIN` and
/// `CLUSTERDOWN` (a growing pause), for at most four times the command timeout (5 s at least). A connection failure marked safe to retry refreshes the map
/// (a primary may have failed over) and runs the work again; an unknown outcome
/// never does. **Blocks** like ``RedisConnectionPool``.
public final class RedisClusterRouter: Sendable {
    /// The cluster configuration (its ``RedisConfiguration/cluster`` is set).
    public let configuration: RedisConfiguration
    /// Connections per primary.
    public let poolSize: Int
    /// The most times one piece of work is sent (the first included) after a
    /// redirection or failure; waits for a migration or a failover also stop once
    /// four times the command timeout (and at least 5 s) have passed.
    public let maxAttempts = 100
    private let state = Mutex(State())
    private let redirections = Atomic<Int>(0)

    /// How long redirections and failovers are waited out: four times the command timeout, 5 s at least.
    private let maximumWait: Duration

    private struct State {
        private(set) var map = RedisClusterSlotMap()
        var pools: [RedisConfiguration.Endpoint: RedisConnectionPool] = [:]
        /// The pool of each of `map.primaries`, at the same index: one lookup per command.
        private(set) var primaryPools: [RedisConnectionPool] = []
        var isClosed = false

        /// The pool of `node`, made on first need (it connects only when used).
        mutating func pool(for node: RedisConfiguration.Endpoint, making make: (RedisConfiguration.Endpoint) -> RedisConnectionPool) -> RedisConnectionPool {
            if let existing = pools[node] { return existing }
            let pool = make(node)
            pools[node] = pool
            return pool
        }

        /// Changes the map and lines the primaries' pools up with it.
        mutating func updateMap(making make: (RedisConfiguration.Endpoint) -> RedisConnectionPool, _ change: (inout RedisClusterSlotMap) -> Void) {
            change(&map)
            primaryPools = map.primaries.map { pool(for: $0, making: make) }
        }
    }

    /// Creates a router; the slot map is read on first use.
    /// - Precondition: `configuration.cluster` is set.
    public init(configuration: RedisConfiguration, poolSize: Int) {
        precondition(configuration.cluster != nil, "RedisClusterRouter needs a cluster configuration")
        self.configuration = configuration
        self.poolSize = max(1, poolSize)
        maximumWait = max(configuration.commandTimeout * 4, .seconds(5))
    }

    /// `MOVED` and `ASK` replies followed so far: a benchmark and test aid.
    public var redirectionsFollowed: Int { redirections.load(ordering: .relaxed) }

    /// Round trips of every primary's pool so far.
    public var roundTrips: Int { state.withLock { $0.pools.values.reduce(0) { $0 + $1.roundTrips } } }

    /// The slot map as last read (empty before the first use).
    public var slotMap: RedisClusterSlotMap { state.withLock { $0.map } }

    /// The slot map, read from the cluster first when there is none yet. Blocks then.
    public func currentMap() throws(RedisError) -> RedisClusterSlotMap {
        let map = slotMap
        if !map.primaries.isEmpty { return map }
        try refresh()
        return slotMap
    }

    /// Reads `CLUSTER SLOTS` from the first known primary or seed that answers. Blocks.
    /// - Throws: ``RedisError`` `connectionFailed` when no node answers or none serves every slot.
    public func refresh() throws(RedisError) {
        let known = state.withLock { $0.map.primaries }
        var lastError = RedisError(.connectionFailed, "no cluster node configured")
        for node in known + configuration.cluster!.seeds.filter({ !known.contains($0) }) {
            do throws(RedisError) {
                // Through the node's pool: a resharding's many MOVED replies reuse its connections.
                let reply = try RedisError.rethrowing { try pool(for: node).withConnection { try $0.send(RedisCommand("CLUSTER", "SLOTS")) } }
                var map = try RedisClusterSlotMap(clusterSlots: reply)
                if case .tcp(let host, _) = node { map = map.replacingEmptyHosts(with: host) }
                guard map.coveredSlots == RedisHashSlot.count else {
                    lastError = RedisError(.connectionFailed, "cluster node \(RedisConfiguration.hostAndPort(node)) serves \(map.coveredSlots) of \(RedisHashSlot.count) slots")
                    continue
                }
                state.withLock { $0.updateMap(making: makePool) { $0 = map } }
                return
            } catch {
                // Credentials and ACLs are the same on every node: asking another would not help.
                if error.kind == .authenticationFailed || error.kind == .permissionDenied { throw error }
                lastError = RedisError(error.kind == .timeout ? .timeout : .connectionFailed, "cluster node \(RedisConfiguration.hostAndPort(node)): \(error.message)")
            }
        }
        throw lastError
    }

    /// Lends a connection of the primary owning `slot` to `body`, following the
    /// cluster's redirections. Blocks.
    ///
    /// `body` runs again after a redirection or a safe-to-retry failure, so it must
    /// be one command, one pipeline or one transaction (whose refusal applied nothing).
    /// - Throws: What `body` throws once attempts run out or the error is no
    ///   redirection; ``RedisError`` from connecting or reading the slot map.
    public func withConnection<Result>(slot: Int, _ body: (RedisConnection) throws -> Result) throws -> Result {
        var attempt = 0
        var asking: RedisConfiguration.Endpoint?
        var deadline: ContinuousClock.Instant?
        while true {
            attempt += 1
            let pool = try asking.map(self.pool(for:)) ?? owner(ofSlot: slot)
            let sendAsking = asking != nil
            asking = nil
            do {
                return try pool.withConnection { connection in
                    // ASKING before every command up to MULTI (it lasts one command outside MULTI).
                    connection.isAsking = sendAsking
                    defer { connection.isAsking = false }
                    return try body(connection)
                }
            } catch {
                let now = ContinuousClock.now
                if deadline == nil { deadline = now + maximumWait }
                guard attempt < maxAttempts, now < deadline! else { throw error }
                if let redirect = RedisClusterRedirect(error) {
                    switch redirect {
                    case .moved(let movedSlot, let endpoint):
                        redirections.add(1, ordering: .relaxed)
                        // One moved slot often means a resharding: read the whole map, best effort,
                        // but keep the MOVED answer for this slot (the node asked may not know yet).
                        try? refresh()
                        state.withLock { $0.updateMap(making: makePool) { $0.assign(movedSlot...movedSlot, to: endpoint) } }
                        if attempt > 2 { pause(attempt) }
                    case .ask(_, let endpoint):
                        redirections.add(1, ordering: .relaxed)
                        // Asked already and sent back: the keys are split mid-migration; wait.
                        if sendAsking { pause(attempt) }
                        asking = endpoint
                    case .wait:
                        pause(attempt)
                    }
                    continue
                }
                if let redisError = error as? RedisError, redisError.isConnectionError {
                    // The node may have failed over: read the map again (from any other node),
                    // and run the work again when nothing of it can have been applied.
                    try? refresh()
                    if redisError.isSafeToRetry {
                        pause(attempt)
                        continue
                    }
                }
                throw error
            }
        }
    }

    /// Runs `body` on a connection to each primary of the slot map (read first when
    /// there is none yet), in map order. Blocks.
    public func eachPrimary<Result>(_ body: (RedisConnection) throws -> Result) throws -> [(node: RedisConfiguration.Endpoint, result: Result)] {
        try currentMap().primaries.map { node in (node, try pool(for: node).withConnection(body)) }
    }

    /// The pool of the primary owning `slot` (one lock, one array lookup), reading
    /// the map first when it has none.
    private func owner(ofSlot slot: Int) throws(RedisError) -> RedisConnectionPool {
        func lookup() -> Result<RedisConnectionPool?, RedisError> {
            state.withLock { state in
                guard !state.isClosed else { return .failure(RedisError(.shutDown, "connection pool is closed")) }
                return .success(state.map.ownerIndex(ofSlot: slot).map { state.primaryPools[$0] })
            }
        }
        if let known = try lookup().get() { return known }
        try refresh()
        guard let owner = try lookup().get() else {
            throw RedisError(.connectionFailed, "no cluster node serves slot \(slot)")
        }
        return owner
    }

    /// The pool of one node, made on first need.
    private func pool(for node: RedisConfiguration.Endpoint) throws(RedisError) -> RedisConnectionPool {
        let made: RedisConnectionPool? = state.withLock { state in
            state.isClosed ? nil : state.pool(for: node, making: makePool)
        }
        guard let made else { throw RedisError(.shutDown, "connection pool is closed") }
        return made
    }

    /// A new (not yet connected) pool for one node.
    private func makePool(_ node: RedisConfiguration.Endpoint) -> RedisConnectionPool {
        RedisConnectionPool(configuration: nodeConfiguration(node), size: poolSize)
    }

    /// The configuration for one node: the cluster's credentials and timeouts at its address.
    func nodeConfiguration(_ node: RedisConfiguration.Endpoint) -> RedisConfiguration {
        var direct = configuration
        direct.cluster = nil
        direct.endpoint = node
        direct.database = 0
        return direct
    }

    /// A pause growing with the attempt: 10, 20, 40 … ms, at most 200 ms.
    private func pause(_ attempt: Int) {
        usleep(useconds_t(min(200, 10 << min(attempt - 1, 5)) * 1000))
    }

    /// Closes every node's pool.
    public func close() {
        let pools = state.withLock { state in
            state.isClosed = true
            return Array(state.pools.values)
        }
        pools.forEach { $0.close() }
    }
}
