import Redis

extension DeploymentDoctor {
    /// `topology` on a Cluster: its state, the primaries with their slot counts, and
    /// which primary holds each of the 16 partitions.
    func clusterCheck(_ router: RedisClusterRouter) -> DoctorCheck {
        do {
            try router.refresh()
        } catch {
            return DoctorCheck("topology", .fail, "cluster: the slot map cannot be read: \(error.message)")
        }
        let map = router.slotMap
        var slotCounts: [RedisConfiguration.Endpoint: Int] = [:]
        for slot in 0..<RedisHashSlot.count {
            if let owner = map.owner(ofSlot: slot) { slotCounts[owner, default: 0] += 1 }
        }
        let partitions = KeySpace.partitions.map { partition -> String in
            let slot = RedisHashSlot.slot(of: keys.agents(partition))
            let owner = map.owner(ofSlot: slot).map(RedisConfiguration.hostAndPort) ?? "none"
            return "{\(KeySpace.partitionLabels[partition])} slot \(slot) on \(owner)"
        }
        let states = (try? store.pool.withEachPrimary { connection in
            RedisInfo(try connection.send(RedisCommand("CLUSTER", "INFO")).text ?? "")["cluster_state"] ?? "?"
        }) ?? []
        var detail = "cluster of \(map.primaries.count) primaries ("
            + map.primaries.map { "\(RedisConfiguration.hostAndPort($0)) with \(slotCounts[$0] ?? 0) slots" }.joined(separator: ", ")
            + "); partitions: " + partitions.joined(separator: ", ")
        let troubled = states.filter { $0.result != "ok" }
        if !troubled.isEmpty {
            detail += "; cluster_state " + troubled.map { "\($0.result) on \(RedisConfiguration.hostAndPort($0.node))" }.joined(separator: ", ")
            return DoctorCheck("topology", .fail, detail)
        }
        if map.coveredSlots < RedisHashSlot.count {
            return DoctorCheck("topology", .fail, detail + "; \(RedisHashSlot.count - map.coveredSlots) slots have no primary")
        }
        return DoctorCheck("topology", .ok, detail)
    }
}
