import OpsCore
import Redis
import RedisTestSupport
import Testing

/// Layout 2: 16 partitions by the first hex digit, `{p}` hash tags, the meta
/// hash written by the first writer, and a refusal to write over layout 1.
@Suite struct KeySpaceLayoutTests {
    @Test func everyKeyOfASessionCarriesThePartitionOfItsFirstHexDigit() throws {
        let keys = try KeySpace(namespace: "ops")
        let id = try #require(SessionID("d4c3b2a1-0000-4000-8000-000000000000"))
        #expect(KeySpace.partition(of: id) == 13)
        #expect(String(decoding: keys.session(id), as: UTF8.self) == "ops:{d}:session:d4c3b2a1-0000-4000-8000-000000000000")
        #expect(String(decoding: keys.agentSessions("a:b", partition: 13), as: UTF8.self) == "ops:{d}:agent:a:b:sessions")
        #expect(String(decoding: keys.byUpdate(13), as: UTF8.self) == "ops:{d}:by_update")
        #expect(String(decoding: keys.agents(0), as: UTF8.self) == "ops:{0}:agents")
        #expect(String(decoding: keys.eventStream(15), as: UTF8.self) == "ops:{f}:events")
        #expect(String(decoding: keys.deadEventStream(10), as: UTF8.self) == "ops:{a}:events:dead")
        #expect(String(decoding: keys.meta, as: UTF8.self) == "ops:meta")
        #expect(KeySpace.partitionLabels == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"])
    }

    @Test func theFirstWriteWritesMetaAndARefusedOneWritesNothing() async throws {
        let fixture = try await OpsFixture.make("meta", register: false)
        let metaKey = String(decoding: fixture.keys.meta, as: UTF8.self)
        let (afterRefusal, afterRegister) = try await fixture.run { lifecycle, raw in
            _ = attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: "nobody", workflowID: "wf") }
            let afterRefusal = try raw.keys("\(fixture.namespace):*")
            try lifecycle.agents.register(["a"])
            return (afterRefusal, try raw.hgetall(metaKey))
        }
        #expect(afterRefusal.isEmpty)
        #expect(afterRegister == ["layout": "2", "partitions": "16", "events_maxlen": "10000"])
    }

    @Test(arguments: ["agents", "sessions:by_update"])
    func layoutOneKeysWithoutMetaMakeEveryWriteRefuseAndNameMigrate(layoutOneKey: String) async throws {
        let fixture = try await OpsFixture.make("layout1", register: false)
        let (errors, keys) = try await fixture.run { lifecycle, raw in
            let key = "\(fixture.namespace):\(layoutOneKey)"
            if layoutOneKey == "agents" { try raw.send("SADD", key, "old-agent") } else { try raw.send("ZADD", key, 1, "x") }
            let errors = [
                attempt { () throws(OpsCoreError) in try lifecycle.agents.register(["a"]) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: "a", workflowID: "wf") }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.agents.remove("a") }.failure,
            ]
            return (errors, try raw.keys("\(fixture.namespace):*"))
        }
        #expect(errors.map { $0?.code } == Array(repeating: "layout_mismatch", count: 3))
        #expect(errors.allSatisfy { "\($0.map { "\($0)" } ?? "")".contains("opscore migrate") })
        #expect(keys == ["\(fixture.namespace):\(layoutOneKey)"])
    }

    @Test func metaOfAnotherLayoutMakesEveryWriteRefuse() async throws {
        let fixture = try await OpsFixture.make("layout3", register: false)
        let errors = try await fixture.run { lifecycle, raw in
            try raw.send("HSET", String(decoding: fixture.keys.meta, as: UTF8.self), "layout", 3, "partitions", 16, "events_maxlen", 10)
            return [
                attempt { () throws(OpsCoreError) in try lifecycle.agents.register(["a"]) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.store.createMeta(eventsMaxLength: 5) }.failure,
            ]
        }
        #expect(errors.map { $0?.code } == ["layout_mismatch", "layout_mismatch"])
    }

    @Test func anAgentInOnlySomePartitionsIsNotListedNorRegisteredAndIsRepairedByRegisteringAgain() async throws {
        let fixture = try await OpsFixture.make("partial-agent", register: false)
        let (listed, partial, registered, repairedList, repairedPartial) = try await fixture.run { lifecycle, raw in
            try lifecycle.agents.register(["whole"])
            for partition in 0..<5 { try raw.send("SADD", fixture.agentsKey(partition: partition), "half") }
            let listed = try lifecycle.agents.list()
            let partial = try lifecycle.agents.partiallyRegistered()
            let registered = try lifecycle.agents.isRegistered("half")
            try lifecycle.agents.register(["half"])
            return (listed, partial, registered, try lifecycle.agents.list(), try lifecycle.agents.partiallyRegistered())
        }
        #expect(listed == ["whole"])
        #expect(partial == ["half"])
        #expect(!registered)
        #expect(repairedList == ["half", "whole"])
        #expect(repairedPartial.isEmpty)
    }
}

/// Layout 2 on a Cluster: each partition's keys share one slot, and the 16
/// partitions fall in 16 different slots.
@Suite struct KeySpaceSlotTests {
    @Test func everyKeyOfAPartitionIsInOneSlotAndThePartitionsInSixteen() throws {
        let keys = try KeySpace(namespace: "opscore")
        var slots: Set<Int> = []
        for partition in KeySpace.partitions {
            let id = try #require(SessionID(KeySpace.partitionLabels[partition] + "1234567-89ab-4def-8123-456789abcdef"))
            let partitionKeys = [
                keys.session(id), keys.agents(partition), keys.agentSessions("any:agent{x}", partition: partition),
                keys.byUpdate(partition), keys.eventStream(partition), keys.deadEventStream(partition),
            ]
            let partitionSlots = Set(partitionKeys.map { RedisHashSlot.slot(of: $0) })
            #expect(partitionSlots.count == 1, "partition \(partition)")
            slots.formUnion(partitionSlots)
        }
        #expect(slots.count == 16)
    }
}
