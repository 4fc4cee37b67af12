import OpsCore
import Redis
import RedisTestSupport
import Testing

/// The library's event feed: `EventFeed` (an AsyncSequence reading on a thread
/// of its own) and `ConsumerGroup` (next batch, acknowledge, claim, dead-letter).
@Suite struct EventFeedTests {
    @Test func theAsyncFeedReplaysEveryRetainedEventThenGoesOnLive() async throws {
        let fixture = try await OpsFixture.make("feed-async")
        let id = try await fixture.run { lifecycle, _ in
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            for step in 0..<20 { _ = try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["s": .integer(Int64(step))])) }
            return id
        }
        let feed = EventFeed(configuration: fixture.server.configuration, keys: fixture.keys, from: .beginning, bufferSize: 4)
        var versions: [Int64] = []
        var wroteLive = false
        for try await item in feed {
            guard case .event(let entry) = item, let event = entry.event, event.sessionID == id else { continue }
            versions.append(event.version)
            if event.version == 21 && !wroteLive {
                wroteLive = true
                // Committed while the feed is being read: it arrives too.
                _ = try await fixture.run { lifecycle, _ in try lifecycle.endSession(id) }
            }
            if event.version == 22 { break }
        }
        #expect(versions == Array(1...22))
    }

    @Test func consumersOfOneGroupShareTheEntriesAndAnIdleOnesPendingAreClaimed() async throws {
        let fixture = try await OpsFixture.make("feed-group")
        let (first, second, claimed, deliveries, pendingAfter, dead) = try await fixture.run { lifecycle, raw in
            for _ in 0..<6 { _ = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf") }
            let a = ConsumerGroup(configuration: fixture.server.configuration, keys: fixture.keys, group: "g", consumer: "a")
            let b = ConsumerGroup(configuration: fixture.server.configuration, keys: fixture.keys, group: "g", consumer: "b")
            try a.prepare(from: .beginning)
            try b.prepare(from: .beginning)
            _ = try a.next()  // a's own pending (none yet)
            let first = try a.next(count: 3, block: .milliseconds(100))
            _ = try b.next()
            let second = try b.next(count: 100, block: .milliseconds(100))
            try b.acknowledge(second)
            // a never acknowledges: once idle, b claims them.
            sleepOnThread(milliseconds: 60)
            let claimed = try b.claimIdle(for: .milliseconds(50))
            let deliveries = try claimed.map { try b.deliveries(of: $0) }
            try b.deadLetter(claimed[0], deliveries: deliveries[0], exitStatus: 7)
            try b.acknowledge(Array(claimed.dropFirst()))
            var pending = 0
            for partition in KeySpace.partitions {
                let summary = try raw.send("XPENDING", String(decoding: fixture.keys.eventStream(partition), as: UTF8.self), "g")
                pending += Int(summary.array?.first?.integer ?? 0)
            }
            let deadKey = String(decoding: fixture.keys.deadEventStream(claimed[0].partition), as: UTF8.self)
            let dead = try raw.send("XRANGE", deadKey, "-", "+").array ?? []
            return (first, second, claimed, deliveries, pending, dead)
        }
        // Per-partition batches: a got at most 3 from each partition it read, b the rest.
        #expect(first.count + second.count == 6)
        #expect(Set(first.map(\.streamID)).isDisjoint(with: Set(second.map(\.streamID))))
        #expect(Set(claimed.map(\.streamID)) == Set(first.map(\.streamID)))
        #expect(deliveries.allSatisfy { $0 == 2 })
        #expect(pendingAfter == 0)
        let fields = try #require(dead.first?.array?.last?.array).compactMap(\.text)
        #expect(fields.count == 8)
        #expect(Array(fields[2...]) == ["group", "g", "deliveries", "2", "exit_status", "7"])
    }
}
