@testable import OpsCore
import Redis
import RedisTestSupport
import Testing

/// The durable feed: every committed change is one entry in its partition's
/// stream, written in the same MULTI as the change and as the PUBLISH.
@Suite struct EventStreamTests {
    @Test func everyCommittedChangeIsOneStreamEntryIdenticalToThePublishedEvent() async throws {
        let fixture = try await OpsFixture.make("stream")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let ids = try await fixture.run { lifecycle, _ -> [SessionID] in
            var ids: [SessionID] = []
            for partition in [0, 7, 15] {
                let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: OpsFixture.sessionID(inPartition: partition)).id
                _ = try lifecycle.updateSession(id, SessionUpdate(status: .paused))
                _ = try lifecycle.endSession(id)
                ids.append(id)
            }
            try lifecycle.deleteSession(ids[0])
            return ids
        }
        let published = try #require(try await events.payloadsBeforeSentinel())
        let streams = try await fixture.run { _, raw in
            try KeySpace.partitions.map { try raw.streamEvents(String(decoding: fixture.keys.eventStream($0), as: UTF8.self)) }
        }
        // Only the three partitions written to have entries; each entry is its session's.
        #expect(streams.enumerated().filter { !$0.element.isEmpty }.map(\.offset) == [0, 7, 15])
        #expect(streams[0].count == 4)
        #expect(streams[7].count == 3)
        #expect(streams[15].count == 3)
        for (index, partition) in [0, 7, 15].enumerated() {
            #expect(streams[partition].allSatisfy { SessionEvent(json: $0.payload)?.sessionID == ids[index] })
        }
        // The same bytes as the PUBLISHed events, as a multiset.
        let streamed = streams.flatMap { $0.map(\.payload) }
        #expect(streamed.sorted { $0.lexicographicallyPrecedes($1) } == published.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func aRefusedOrAbortedChangeAddsNoStreamEntry() async throws {
        let fixture = try await OpsFixture.make("stream-refused")
        let (before, after) = try await fixture.run { lifecycle, raw in
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            _ = try lifecycle.endSession(id)
            let key = fixture.eventStreamKey(for: id)
            let before = try raw.streamEvents(key).count
            _ = attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .active)) }
            _ = attempt { () throws(OpsCoreError) in try lifecycle.endSession(id) }
            _ = attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: "nobody", workflowID: "wf", sessionID: id) }
            // A transaction aborted by a concurrent write of its watched key retries; only the commit is announced.
            let intruder = try RawRedis(fixture.server)
            let other = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: OpsFixture.sessionID(inPartition: KeySpace.partition(of: id))).id
            var first = true
            _ = try lifecycle.store.modify(other) { current, now throws(OpsCoreError) in
                if first {
                    first = false
                    _ = try? intruder.send("HSET", fixture.sessionKey(other), "workflow_id", "touched")
                }
                var next = current
                next.metadata = ["n": 1]
                return lifecycle.change(from: current, to: next, changed: ["metadata"], at: now, kind: .updated)
            }
            return (before, try raw.streamEvents(key).count)
        }
        #expect(before == 2)
        #expect(after == before + 2, "one start and one committed update of the other session, nothing for the refusals or the abort")
    }

    @Test func theStreamIsTrimmedToAboutEventsMaxLength() async throws {
        let fixture = try await OpsFixture.make("stream-trim", register: false)
        let length = try await fixture.run { lifecycle, raw -> Int in
            #expect(try lifecycle.store.createMeta(eventsMaxLength: 10).eventsMaxLength == 10)
            try lifecycle.agents.register([fixture.agent])
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: OpsFixture.sessionID(inPartition: 3)).id
            for step in 0..<300 { _ = try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["step": .integer(Int64(step))])) }
            return try raw.streamEvents(fixture.eventStreamKey(for: id)).count
        }
        // `MAXLEN ~` trims whole nodes (100 entries by default): about 10, never all 301.
        #expect(length >= 10)
        #expect(length <= 110)
    }
}
