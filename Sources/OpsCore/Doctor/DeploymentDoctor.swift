import Redis

/// Checks a deployment and says what to fix: the server, its topology, its
/// eviction and persistence settings, the namespace's layout and data, the event
/// streams and consumer groups, and the current user's permissions.
///
/// Reads only; never writes. **Blocks** the calling thread on Redis. The data
/// checks sample (at most ``sampleLimit`` index entries and session keys) so that
/// a large namespace costs bounded time.
public struct DeploymentDoctor: Sendable {
    /// The store whose namespace and Redis are checked.
    public let store: SessionStore
    /// The most index entries and session keys each sampled check reads.
    public let sampleLimit: Int
    /// A pending entry idle longer than this marks its consumer group as stuck.
    public let stuckAfter: Duration

    /// Creates a doctor for a store's namespace and Redis.
    public init(store: SessionStore, sampleLimit: Int = 2_000, stuckAfter: Duration = .seconds(60)) {
        self.store = store
        self.sampleLimit = max(16, sampleLimit)
        self.stuckAfter = stuckAfter
    }

    var keys: KeySpace { store.keys }

    /// Runs every check, in order. When Redis cannot be reached that is the one,
    /// failed, finding; otherwise a check that cannot run reports why as `warn`.
    public func run() -> [DoctorCheck] {
        // Each primary (one, unless on a Cluster): its INFO and its persistence settings.
        let primaries: [(node: RedisConfiguration.Endpoint, result: ServerFacts)]
        do {
            primaries = try store.pool.withEachPrimary { connection in
                ServerFacts(info: try RedisInfo(connection, section: "default"), settings: Self.persistenceSettings(connection))
            }
        } catch {
            return [DoctorCheck("redis", .fail, "cannot reach Redis at \(store.pool.configuration): \(Self.message(error))")]
        }
        var checks = [
            Self.combined(primaries.map { ($0.node, serverCheck($0.result.info, at: $0.node)) }),
            topologyCheck(primaries.map(\.node)),
            Self.combined(primaries.map { ($0.node, evictionCheck($0.result.info)) }),
            Self.combined(primaries.map { ($0.node, persistenceCheck($0.result)) }),
        ]
        checks += [layoutCheck(), agentsCheck(), indexCheck()]
        checks += streamChecks()
        checks.append(permissionsCheck())
        return checks
    }

    /// What one primary tells about itself.
    struct ServerFacts {
        var info: RedisInfo
        /// `CONFIG GET save` and `appendfsync`, `nil` each when refused.
        var settings: (save: String?, fsync: String?)
    }

    /// One finding per primary as one line: the worst status; the detail once when
    /// all agree, else each node's.
    static func combined(_ findings: [(node: RedisConfiguration.Endpoint, check: DoctorCheck)]) -> DoctorCheck {
        guard var first = findings.first?.check else { return DoctorCheck("redis", .fail, "no primary answered") }
        guard findings.count > 1 else { return first }
        first.status = findings.map(\.check.status).max() ?? first.status
        let details = findings.map(\.check.detail)
        if Set(details).count > 1 {
            first.detail = findings.map { "\(RedisConfiguration.hostAndPort($0.node)) \($0.check.status.rawValue): \($0.check.detail)" }.joined(separator: " | ")
        } else {
            first.detail = "every primary: " + details[0]
        }
        return first
    }

    /// `redis`: version, role and replicas of a server written to.
    func serverCheck(_ info: RedisInfo, at node: RedisConfiguration.Endpoint) -> DoctorCheck {
        let version = info["redis_version"] ?? "?"
        let role = info["role"] ?? "?"
        let replicas = info.integer("connected_slaves") ?? 0
        let base = "Redis \(version) at \(RedisConfiguration.hostAndPort(node)), role \(role), \(replicas) replica\(replicas == 1 ? "" : "s") connected"
        guard role == "master" else {
            return DoctorCheck("redis", .fail, base + "; writes need the primary: point --redis-url at it, or use redis-sentinel://")
        }
        guard let major = version.split(separator: ".").first.flatMap({ Int($0) }), major >= 7 else {
            return DoctorCheck("redis", .warn, base + "; OpsCore is tested on Redis 7 (consumer-group lag and ACL DRYRUN need it)")
        }
        return DoctorCheck("redis", .ok, base)
    }

    /// `topology`: a single server, what the sentinels see, or the Cluster's primaries and partitions.
    func topologyCheck(_ primaries: [RedisConfiguration.Endpoint]) -> DoctorCheck {
        let configuration = store.pool.configuration
        if let router = store.pool.router { return clusterCheck(router) }
        guard let sentinel = configuration.sentinel else {
            return DoctorCheck("topology", .ok, "single server (no failover: if it dies, every host stops until it is back)")
        }
        let view: RedisSentinelView
        do {
            view = try RedisSentinelLocator.shared(for: configuration).view()
        } catch {
            return DoctorCheck("topology", .fail, "sentinel: no sentinel describes \(OpsCoreError.quoted(sentinel.masterName)): \(error.message)")
        }
        let healthyReplicas = view.replicas.filter { !$0.flags.contains("down") && !$0.flags.contains("disconnected") }
        var detail = "sentinel \(OpsCoreError.quoted(sentinel.masterName)): primary \(RedisConfiguration.hostAndPort(view.primary)) [\(view.primaryFlags)], replicas "
        detail += view.replicas.isEmpty ? "none" : view.replicas.map { "\(RedisConfiguration.hostAndPort($0.endpoint)) [\($0.flags)]" }.joined(separator: ", ")
        detail += "; \(view.otherSentinels + 1) sentinels known, quorum \(view.quorum)"
        if !view.unreachableSentinels.isEmpty {
            detail += "; unreachable: " + view.unreachableSentinels.map(RedisConfiguration.hostAndPort).joined(separator: ", ")
        }
        if let problem = view.quorumProblem {
            return DoctorCheck("topology", .fail, detail + "; no failover possible: \(problem)")
        }
        if view.primaryFlags.contains("down") {
            return DoctorCheck("topology", .fail, detail + "; the sentinels see the primary down")
        }
        if healthyReplicas.isEmpty {
            return DoctorCheck("topology", .warn, detail + "; no healthy replica to fail over to")
        }
        if !view.unreachableSentinels.isEmpty {
            return DoctorCheck("topology", .warn, detail)
        }
        return DoctorCheck("topology", .ok, detail)
    }

    /// `maxmemory_policy`: anything but `noeviction` lets Redis delete sessions silently.
    func evictionCheck(_ info: RedisInfo) -> DoctorCheck {
        guard let policy = info["maxmemory_policy"] else {
            return DoctorCheck("maxmemory_policy", .warn, "INFO memory does not show maxmemory_policy; could not check")
        }
        guard policy == "noeviction" else {
            return DoctorCheck("maxmemory_policy", .fail, "maxmemory-policy is \(policy): when memory runs out Redis silently deletes keys, sessions and indexes among them; set it to noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf)")
        }
        let limit = info.integer("maxmemory") ?? 0
        return DoctorCheck("maxmemory_policy", .ok, "noeviction: when memory runs out, writes fail with an error instead of deleting data" + (limit > 0 ? " (maxmemory \(limit) bytes)" : ""))
    }

    /// `CONFIG GET save` and `appendfsync` on one connection; `nil` each when refused.
    static func persistenceSettings(_ connection: RedisConnection) -> (save: String?, fsync: String?) {
        let replies = try? connection.pipeline([RedisCommand("CONFIG", "GET", "save"), RedisCommand("CONFIG", "GET", "appendfsync")], readOnly: true)
        return (replies.flatMap { configValue($0[0]) }, replies.flatMap { configValue($0[1]) })
    }

    /// `persistence`: whether an acknowledged write survives a restart of Redis.
    func persistenceCheck(_ facts: ServerFacts) -> DoctorCheck {
        let aof = facts.info["aof_enabled"] == "1"
        let (save, fsync) = facts.settings
        if aof {
            switch fsync {
            case "always":
                return DoctorCheck("persistence", .ok, "append-only file with appendfsync always: an acknowledged write survives a crash of Redis")
            case let policy?:
                return DoctorCheck("persistence", .ok, "append-only file with appendfsync \(policy): a crash of Redis can lose about the last second of acknowledged writes; appendfsync always loses none")
            case nil:
                return DoctorCheck("persistence", .ok, "append-only file on (appendfsync not readable: CONFIG GET is denied)")
            }
        }
        switch save {
        case nil:
            return DoctorCheck("persistence", .warn, "append-only file off, and the snapshot schedule is not readable (CONFIG GET is denied): an acknowledged write may live only in memory")
        case ""?:
            return DoctorCheck("persistence", .warn, "persistence off (no append-only file, no snapshots): an acknowledged write lives only in memory and is lost when Redis restarts, unless a replica holds it (--wait-replicas); turn on appendonly yes")
        case let schedule?:
            return DoctorCheck("persistence", .warn, "snapshots only (save \(schedule)): a crash of Redis loses every write since the last snapshot; turn on appendonly yes for durable writes")
        }
    }

    /// The value of a `CONFIG GET name` reply, or `nil` when refused or absent.
    private static func configValue(_ reply: RedisReply) -> String? {
        guard let pair = reply.array, pair.count == 2 else { return nil }
        return pair[1].text
    }

    static func message(_ error: any Error) -> String {
        switch error {
        case let error as RedisError: error.message
        case let error as OpsCoreError: error.description
        default: "\(error)"
        }
    }
}
