import Redis

extension DeploymentDoctor {
    /// `streams`, then one `consumer_group` finding per group over the 16 streams.
    func streamChecks() -> [DoctorCheck] {
        do {
            let pool = store.pool
            let meta = try? KeySpaceMeta.decode(pool.withConnection(routingKeys: [keys.meta]) { try $0.send(RedisCommand("HGETALL", keys.meta)) })
            let maxLength = meta?.eventsMaxLength ?? KeySpaceMeta.defaultEventsMaxLength
            let lengths = try perStream { RedisCommand("XLEN", $0) }.map { try Int($0.throwingServerError().integer ?? 0) }
            let groups = try consumerGroups()
            return [streamLengthCheck(lengths, maxLength: maxLength)] + groups.map { groupCheck($0, maxLength: maxLength) }
        } catch {
            return [DoctorCheck("streams", .warn, "could not read the event streams: \(Self.message(error))")]
        }
    }

    private func streamLengthCheck(_ lengths: [Int], maxLength: Int) -> DoctorCheck {
        let total = lengths.reduce(0, +)
        let longest = lengths.max() ?? 0
        // MAXLEN ~ trims whole stream nodes (100 entries by default), so a little over is normal.
        let allowance = maxLength + maxLength / 10 + 200
        let detail = "\(total) events in \(KeySpace.partitionCount) streams, the longest \(longest) (events_maxlen \(maxLength), trimmed approximately)"
        guard longest <= allowance else {
            return DoctorCheck("streams", .warn, detail + "; a stream is well over events_maxlen: something writes to it without MAXLEN, or the meta hash changed after it grew")
        }
        return DoctorCheck("streams", .ok, detail)
    }

    /// One consumer group summed over the partitions' streams.
    struct GroupSummary {
        var name: String
        var consumers: Set<String> = []
        var pending = 0
        var lag = 0
        var lagUnknown = false
        var oldestPendingIdleMilliseconds = 0
        var partitions = 0
    }

    /// `XINFO GROUPS` of every stream, and for each group with pending entries the
    /// oldest one's idle time (`XPENDING … - + 1`), summed per group name.
    /// One command per partition's stream, routed to its primary; replies in partition order.
    private func perStream(_ command: ([UInt8]) -> RedisCommand) throws -> [RedisReply] {
        try store.pool.pipeline(routing: keys.eventStreams.map { ($0, command($0)) }, readOnly: true)
    }

    private func consumerGroups() throws -> [GroupSummary] {
        let infos = try perStream { RedisCommand("XINFO", "GROUPS", $0) }
        var groups: [String: GroupSummary] = [:]
        var pendingQueries: [(group: String, command: RedisCommand)] = []
        var consumerQueries: [(group: String, stream: [UInt8], command: RedisCommand)] = []
        for (partition, reply) in zip(KeySpace.partitions, infos) {
            // No stream yet: no group either.
            guard case .array(let entries) = reply else { continue }
            for entry in entries {
                let fields = (entry.fieldMap ?? [:])
                guard let name = fields["name"]?.text else { continue }
                var summary = groups[name] ?? GroupSummary(name: name)
                summary.partitions += 1
                let pending = Int(fields["pending"]?.integer ?? 0)
                summary.pending += pending
                if let lag = fields["lag"]?.integer { summary.lag += Int(lag) } else { summary.lagUnknown = true }
                groups[name] = summary
                if pending > 0 {
                    pendingQueries.append((name, RedisCommand("XPENDING", keys.eventStream(partition), name, "-", "+", 1)))
                }
                consumerQueries.append((name, keys.eventStream(partition), RedisCommand("XINFO", "CONSUMERS", keys.eventStream(partition), name)))
            }
        }
        let pendingReplies = try store.pool.pipeline(routing: pendingQueries.map { ($0.command.firstArgument ?? [], $0.command) }, readOnly: true)
        for (query, reply) in zip(pendingQueries, pendingReplies) {
            // [[id, consumer, idle ms, deliveries]]
            guard let first = reply.array?.first?.array, first.count == 4, let idle = first[2].integer else { continue }
            let oldest = max(groups[query.group]?.oldestPendingIdleMilliseconds ?? 0, Int(idle))
            groups[query.group]?.oldestPendingIdleMilliseconds = oldest
        }
        // XINFO CONSUMERS names its stream second.
        let consumerReplies = try store.pool.pipeline(routing: consumerQueries.map { ($0.stream, $0.command) }, readOnly: true)
        for (query, reply) in zip(consumerQueries, consumerReplies) {
            for consumer in reply.array ?? [] {
                if let name = (consumer.fieldMap ?? [:])["name"]?.text { groups[query.group]?.consumers.insert(name) }
            }
        }
        return groups.values.sorted { $0.name < $1.name }
    }

    private func groupCheck(_ group: GroupSummary, maxLength: Int) -> DoctorCheck {
        let idleSeconds = group.oldestPendingIdleMilliseconds / 1000
        var detail = "group \(OpsCoreError.quoted(group.name)): \(group.consumers.count) consumer\(group.consumers.count == 1 ? "" : "s"), \(group.pending) pending"
        if group.pending > 0 { detail += " (oldest idle \(idleSeconds) s)" }
        detail += group.lagUnknown ? ", lag unknown" : ", lag \(group.lag)"
        if group.partitions < KeySpace.partitionCount {
            detail += ", on \(group.partitions) of \(KeySpace.partitionCount) streams"
        }
        if group.pending > 0 && Duration.milliseconds(group.oldestPendingIdleMilliseconds) >= stuckAfter {
            return DoctorCheck("consumer_group", .warn, detail + "; an event has waited \(idleSeconds) s for its acknowledgement: a consumer is stuck or gone; `opscore consume --claim-after` reclaims it")
        }
        if !group.lagUnknown && group.lag > maxLength / 2 {
            return DoctorCheck("consumer_group", .warn, detail + "; the group is more than half the retained events behind: it loses events once trimming passes it; add consumers")
        }
        return DoctorCheck("consumer_group", .ok, detail)
    }
}
