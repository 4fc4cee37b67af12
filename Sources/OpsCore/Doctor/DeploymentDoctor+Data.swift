import Redis

extension DeploymentDoctor {
    /// `layout`: the namespace's meta hash, or layout-1 keys waiting for `migrate`.
    func layoutCheck() -> DoctorCheck {
        let replies: [RedisReply]
        do {
            let found = try store.pool.pipeline(routing: [
                (keys.meta, RedisCommand("HGETALL", keys.meta)),
                (keys.layout1Agents, RedisCommand("EXISTS", keys.layout1Agents)),
                (keys.layout1ByUpdate, RedisCommand("EXISTS", keys.layout1ByUpdate)),
            ], readOnly: true)
            for reply in found { _ = try reply.throwingServerError() }
            replies = [found[0], .integer((found[1].integer ?? 0) + (found[2].integer ?? 0))]
        } catch {
            return DoctorCheck("layout", .warn, "could not read \(String(decoding: keys.meta, as: UTF8.self)): \(Self.message(error))")
        }
        let metaKey = String(decoding: keys.meta, as: UTF8.self)
        let meta: KeySpaceMeta?
        do {
            meta = try KeySpaceMeta.decode(replies[0])
        } catch {
            return DoctorCheck("layout", .fail, "\(metaKey) is malformed (\(error)); compare it with `opscore init` on an empty namespace")
        }
        guard let meta else {
            if replies[1].integer ?? 0 > 0 {
                return DoctorCheck("layout", .fail, "namespace \(keys.namespace) holds layout-1 keys and no \(metaKey): writers refuse it; run `opscore migrate`")
            }
            return DoctorCheck("layout", .ok, "no \(metaKey) yet (an empty namespace): the first write or `opscore init` creates it")
        }
        guard meta.layout == KeySpaceMeta.currentLayout, meta.partitions == KeySpace.partitionCount else {
            return DoctorCheck("layout", .fail, "\(metaKey) says layout \(meta.layout) with \(meta.partitions) partitions; this build writes layout \(KeySpaceMeta.currentLayout) with \(KeySpace.partitionCount): run `opscore migrate` or a matching build")
        }
        var detail = "layout \(meta.layout), \(meta.partitions) partitions, events_maxlen \(meta.eventsMaxLength)"
        if replies[1].integer ?? 0 > 0 {
            detail += "; layout-1 keys are left over: run `opscore migrate` to move them"
            return DoctorCheck("layout", .warn, detail)
        }
        return DoctorCheck("layout", .ok, detail)
    }

    /// `agents`: every agent must be in all 16 partitions' sets.
    func agentsCheck() -> DoctorCheck {
        let registry = AgentRegistry(store: store)
        do {
            let partial = try registry.partiallyRegistered()
            let complete = try registry.list()
            guard partial.isEmpty else {
                let names = partial.prefix(10).map { OpsCoreError.quoted($0) }.joined(separator: ", ")
                return DoctorCheck("agents", .fail, "\(partial.count) agent\(partial.count == 1 ? " is" : "s are") in only some partitions (\(names)\(partial.count > 10 ? ", …" : "")): their sessions start in some partitions and are refused in others; run `opscore agent register` again for each (or `agent remove`)")
            }
            return DoctorCheck("agents", .ok, "\(complete.count) agent\(complete.count == 1 ? "" : "s") registered in all \(KeySpace.partitionCount) partitions")
        } catch {
            return DoctorCheck("agents", .warn, "could not read the agent sets: \(error)")
        }
    }

    /// `indexes`: sampled by-update index entries without a session, and live
    /// sessions missing from the by-update index (which the idle sweep reads).
    func indexCheck() -> DoctorCheck {
        do {
            let perPartition = max(1, sampleLimit / KeySpace.partitionCount)
            let (orphans, entries) = try orphanIndexEntries(perPartition: perPartition)
            let (unindexed, live, scanned) = try unindexedLiveSessions(limit: sampleLimit)
            var detail = "\(entries) by-update index entries sampled, \(orphans.count) without a session; \(scanned) session keys sampled, \(live) live, \(unindexed.count) of them missing from the by-update index"
            if orphans.isEmpty && unindexed.isEmpty { return DoctorCheck("indexes", .ok, detail) }
            if !orphans.isEmpty {
                detail += "; orphans such as \(orphans.prefix(3).joined(separator: ", ")) are removed by the idle sweep (`opscore worker --expire-after`)"
            }
            if !unindexed.isEmpty {
                detail += "; unindexed live sessions such as \(unindexed.prefix(3).joined(separator: ", ")) never expire: an update of each puts it back"
            }
            return DoctorCheck("indexes", .warn, detail)
        } catch {
            return DoctorCheck("indexes", .warn, "could not sample the indexes: \(Self.message(error))")
        }
    }

    /// The oldest `perPartition` entries of each partition's by-update index whose session hash is gone.
    private func orphanIndexEntries(perPartition: Int) throws -> (orphans: [String], sampled: Int) {
        do {
            let pool = store.pool
            let ranges = try pool.pipeline(routing: KeySpace.partitions.map { (keys.byUpdate($0), RedisCommand("ZRANGE", keys.byUpdate($0), 0, perPartition - 1)) }, readOnly: true)
            var members: [String] = []
            var sessionKeys: [[UInt8]] = []
            for reply in ranges {
                for member in try reply.throwingServerError().array ?? [] {
                    guard let text = member.text else { continue }
                    members.append(text)
                    // A member that is no session id has no session by definition.
                    sessionKeys.append(SessionID(text).map(keys.session) ?? [])
                }
            }
            let exists = try pool.pipeline(routing: sessionKeys.map { ($0, RedisCommand("EXISTS", $0)) }, readOnly: true)
            let orphans = zip(members, exists).filter { $0.1.integer != 1 }.map { OpsCoreError.quoted($0.0) }
            return (orphans, members.count)
        }
    }

    /// Session keys found by `SCAN` (at most `limit`) that are `active` or `paused`
    /// and have no score in their partition's by-update index.
    private func unindexedLiveSessions(limit: Int) throws -> (unindexed: [String], live: Int, scanned: Int) {
        let pattern = "\(keys.namespace):{?}:session:*"
        var scanned = 0
        var ids: [SessionID] = []
        // SCAN walks one node: on a Cluster, each primary in turn (until the limit).
        _ = try store.pool.withEachPrimary { connection in
            var cursor = "0"
            while scanned < limit {
                let reply = try connection.send(RedisCommand("SCAN", cursor, "MATCH", pattern, "COUNT", 500))
                guard let parts = reply.array, parts.count == 2, let next = parts[0].text else {
                    throw RedisError(.unexpectedReply, "SCAN answered with an unexpected reply")
                }
                cursor = next
                let found = (parts[1].array ?? []).compactMap(\.bytes).prefix(limit - scanned)
                scanned += found.count
                for key in found {
                    let text = String(decoding: key, as: UTF8.self)
                    if let id = text.split(separator: ":").last.flatMap({ SessionID(String($0)) }) { ids.append(id) }
                }
                if cursor == "0" { break }
            }
        }
        // Read once the scan has given its connections back (a pool of one would wait on itself).
        var commands: [(key: [UInt8], command: RedisCommand)] = []
        for id in ids {
            commands.append((keys.session(id), RedisCommand("HGET", keys.session(id), SessionHash.status)))
            let index = keys.byUpdate(KeySpace.partition(of: id))
            commands.append((index, RedisCommand("ZSCORE", index, id.text)))
        }
        let replies = commands.isEmpty ? [] : try store.pool.pipeline(routing: commands, readOnly: true)
        var live = 0
        var unindexed: [String] = []
        for (index, id) in ids.enumerated() {
            let status = replies[2 * index].text
            guard status == SessionStatus.active.rawValue || status == SessionStatus.paused.rawValue else { continue }
            live += 1
            if replies[2 * index + 1].isNull { unindexed.append(id.text) }
        }
        return (unindexed, live, scanned)
    }
}
