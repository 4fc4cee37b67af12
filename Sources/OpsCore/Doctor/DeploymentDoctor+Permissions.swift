import Redis

extension DeploymentDoctor {
    /// A group of commands one OpsCore feature needs, as `ACL DRYRUN` probes on the namespace's keys.
    struct CommandFamily {
        var name: String
        /// Whether OpsCore cannot work at all without it (else only the named feature fails).
        var isEssential: Bool
        var probes: [[String]]
    }

    /// The command families, each probed on a key of partition 0.
    func commandFamilies() -> [CommandFamily] {
        let session = String(decoding: keys.session(SessionID("00000000-0000-4000-8000-000000000000")!), as: UTF8.self)
        let byUpdate = String(decoding: keys.byUpdate(0), as: UTF8.self)
        let agents = String(decoding: keys.agents(0), as: UTF8.self)
        let agentIndex = String(decoding: keys.agentSessions("doctor", partition: 0), as: UTF8.self)
        let stream = String(decoding: keys.eventStream(0), as: UTF8.self)
        let meta = String(decoding: keys.meta, as: UTF8.self)
        var families = [
            CommandFamily(name: "sessions", isEssential: true, probes: [
                ["WATCH", session], ["MULTI"], ["EXEC"], ["DISCARD"], ["HGETALL", session], ["HSET", session, "f", "v"],
                ["HSETNX", meta, "f", "v"], ["EXISTS", session], ["DEL", session], ["SISMEMBER", agents, "a"],
                ["ZADD", byUpdate, "1", "m"], ["ZADD", agentIndex, "1", "m"], ["ZREM", byUpdate, "m"], ["TIME"],
                ["XADD", stream, "*", "event", "{}"], ["PUBLISH", keys.eventsChannel, "{}"],
            ]),
            CommandFamily(name: "agents", isEssential: true, probes: [["SADD", agents, "a"], ["SREM", agents, "a"], ["SMEMBERS", agents]]),
            CommandFamily(name: "session list", isEssential: false, probes: [["ZREVRANGE", agentIndex, "0", "1"]]),
            CommandFamily(name: "idle sweep (worker --expire-after)", isEssential: false, probes: [["ZRANGEBYSCORE", byUpdate, "0", "1"]]),
            CommandFamily(name: "watch", isEssential: false, probes: [["XREAD", "STREAMS", stream, "0"], ["XINFO", "STREAM", stream]]),
            CommandFamily(name: "consume", isEssential: false, probes: [
                ["XGROUP", "CREATE", stream, "g", "$"], ["XREADGROUP", "GROUP", "g", "c", "STREAMS", stream, ">"],
                ["XACK", stream, "g", "0-1"], ["XAUTOCLAIM", stream, "g", "c", "0", "0-0"], ["XPENDING", stream, "g"],
            ]),
            CommandFamily(name: "--wait-replicas", isEssential: false, probes: [["WAIT", "0", "0"]]),
        ]
        let configuration = store.pool.configuration
        if configuration.database != 0 {
            families.append(CommandFamily(name: "database \(configuration.database)", isEssential: true, probes: [["SELECT", "\(configuration.database)"]]))
        }
        if configuration.sentinel != nil {
            families.append(CommandFamily(name: "Sentinel (ROLE)", isEssential: true, probes: [["ROLE"]]))
        }
        return families
    }

    /// `permissions`: what the current user may not run, family by family (`ACL DRYRUN`).
    func permissionsCheck() -> DoctorCheck {
        let user = store.pool.configuration.username ?? "default"
        let families = commandFamilies()
        let replies: [RedisReply]
        do {
            replies = try store.pool.withConnection { connection in
                try connection.pipeline(families.flatMap(\.probes).map { probe in
                    RedisCommand("ACL", ["DRYRUN", user] + probe.map { $0 as any RedisArgument })
                }, readOnly: true)
            }
        } catch {
            return DoctorCheck("permissions", .warn, "could not check the permissions of user \(OpsCoreError.quoted(user)): \(Self.message(error))")
        }
        if case .error(let refusal) = replies.first {
            return DoctorCheck("permissions", .warn, "could not check the permissions of user \(OpsCoreError.quoted(user)): ACL DRYRUN was refused (\(refusal.code)); an administrator can run `opscore doctor` with a user allowed +acl|dryrun")
        }
        var missing: [(family: CommandFamily, denials: [String])] = []
        var index = 0
        for family in families {
            var denials: [String] = []
            for probe in family.probes {
                if replies[index].text != "OK" { denials.append(probe[0].lowercased()) }
                index += 1
            }
            if !denials.isEmpty { missing.append((family, denials)) }
        }
        guard !missing.isEmpty else {
            return DoctorCheck("permissions", .ok, "user \(OpsCoreError.quoted(user)) may run every command OpsCore sends on namespace \(keys.namespace)")
        }
        let detail = "user \(OpsCoreError.quoted(user)) lacks " + missing.map { "\($0.family.name): +\(Set($0.denials).sorted().joined(separator: " +"))" }.joined(separator: "; ")
            + " (see the README's ACL line)"
        return DoctorCheck("permissions", missing.contains { $0.family.isEssential } ? .fail : .warn, detail)
    }
}
