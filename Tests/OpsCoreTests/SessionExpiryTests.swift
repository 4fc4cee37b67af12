import OpsCore
import Redis
import RedisTestSupport
import Testing

/// The idle sweep: `expireIdleSessions` over the by-update index.
///
/// Sessions are made idle by back-dating their time fields and index scores
/// with raw commands, as if they had been written two minutes ago, so the
/// tests need no long sleeps.
@Suite struct SessionExpiryTests {
    /// Back-dates a session's hash times and index scores by `seconds`.
    static func backdate(_ id: SessionID, by seconds: Int64, raw: RawRedis, fixture: OpsFixture) throws {
        let then = Timestamp(millisecondsSince1970: try raw.timeMilliseconds() - seconds * 1000)
        try raw.hset(fixture.sessionKey(id), ["start_time": then.description, "last_updated_time": then.description])
        try raw.send("ZADD", fixture.agentIndexKey(for: id), then.millisecondsSince1970, id.text)
        try raw.send("ZADD", fixture.byUpdateKey(for: id), then.millisecondsSince1970, id.text)
    }

    @Test func idleSessionsExpireWithAnEventAndFreshOnesStay() async throws {
        let fixture = try await OpsFixture.make("expire")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        struct Setup: Sendable {
            var idle: [Session] = []
            var fresh: [SessionID] = []
            var touched: SessionID?
            var staleIndex: SessionID?
            var orphan = SessionID.random()
            var ended: SessionID?
            var sweepStart: Int64 = 0
        }
        let (setup, expired, secondSweep, hashes, byUpdate) = try await fixture.run { lifecycle, raw in
            var setup = Setup()
            let start = { () throws -> Session in try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf") }
            for index in 0..<3 {
                let session = try start()
                if index == 1 { _ = try lifecycle.updateSession(session.id, SessionUpdate(status: .paused)) }
                try Self.backdate(session.id, by: 120 + Int64(index), raw: raw, fixture: fixture)
                setup.idle.append(try lifecycle.getSession(session.id))
            }
            setup.fresh = [try start().id, try start().id]
            // Idle once, but updated just now.
            let touched = try start().id
            try Self.backdate(touched, by: 120, raw: raw, fixture: fixture)
            _ = try lifecycle.updateSession(touched, SessionUpdate(metadataPatch: ["touched": true]))
            setup.touched = touched
            // An old index score, but the hash was updated just now: the re-check keeps it.
            let staleIndex = try start().id
            try raw.send("ZADD", fixture.byUpdateKey(for: staleIndex), 1_000, staleIndex.text)
            setup.staleIndex = staleIndex
            // An index entry whose hash is gone.
            try raw.send("ZADD", fixture.byUpdateKey(for: setup.orphan), 1_000, setup.orphan.text)
            // Ended long ago: not a candidate.
            let ended = try start().id
            _ = try lifecycle.endSession(ended)
            try raw.hset(fixture.sessionKey(ended), ["last_updated_time": "2020-01-01T00:00:00.000Z"])
            setup.ended = ended

            setup.sweepStart = try raw.timeMilliseconds()
            let expired = try lifecycle.expireIdleSessions(idleFor: .seconds(60)).expired
            let secondSweep = try lifecycle.expireIdleSessions(idleFor: .seconds(60)).expired
            var hashes: [SessionID: [String: String]] = [:]
            for id in setup.idle.map(\.id) + setup.fresh + [touched, staleIndex, ended] {
                hashes[id] = try raw.hgetall(fixture.sessionKey(id))
            }
            return (setup, expired, secondSweep, hashes, try fixture.byUpdateEntries(raw))
        }

        // Partition by partition, oldest first within each.
        #expect(Set(expired.map(\.id)) == Set(setup.idle.map(\.id)))
        #expect(secondSweep.isEmpty)
        for session in expired {
            let before = try #require(setup.idle.first { $0.id == session.id })
            #expect(session.status == .expired)
            #expect(session.version == before.version + 1)
            #expect(session.metadata == before.metadata)
            #expect(session.lastUpdatedTime.millisecondsSince1970 >= setup.sweepStart)
            let hash = try #require(hashes[session.id])
            #expect(hash["status"] == "expired")
            #expect(hash["version"] == "\(before.version + 1)")
            #expect(hash["last_updated_time"] == session.lastUpdatedTime.description)
        }
        for id in setup.fresh + [setup.touched, setup.staleIndex].compactMap({ $0 }) {
            #expect(hashes[id]?["status"] == "active")
        }
        #expect(hashes[try #require(setup.ended)]?["status"] == "completed")
        // Expired sessions and the orphan left the index; live ones stay.
        let remaining = Set(byUpdate.map(\.member))
        let live = Set((setup.fresh + [setup.touched, setup.staleIndex].compactMap { $0 }).map(\.text))
        #expect(remaining == live)

        let received = try #require(try await events.eventsBeforeSentinel())
        let expiredEvents = received.compactMap { $0 }.filter { $0.kind == .expired }
        #expect(expiredEvents.map(\.sessionID) == expired.map(\.id))
        #expect(expiredEvents.map(\.previousStatus) == expired.map { session in setup.idle.first { $0.id == session.id }?.status })
        #expect(expiredEvents.allSatisfy { $0.status == .expired && $0.changed == ["status", "last_updated_time", "version"] })
        #expect(expiredEvents.map(\.version) == expired.map(\.version))
        #expect(expiredEvents.map(\.at) == expired.map(\.lastUpdatedTime))
        #expect(expiredEvents.allSatisfy { $0.origin == fixture.lifecycle.origin })
    }

    @Test func theSweepLimitCapsHowManySessionsOneCallExpires() async throws {
        let fixture = try await OpsFixture.make("expire-limit")
        let (ids, first, second, third) = try await fixture.run { lifecycle, raw in
            var ids: [SessionID] = []
            for age in [300, 200, 100] as [Int64] {
                let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
                try Self.backdate(id, by: age, raw: raw, fixture: fixture)
                ids.append(id)
            }
            return (ids,
                    try lifecycle.expireIdleSessions(idleFor: .seconds(60), limit: 2).expired,
                    try lifecycle.expireIdleSessions(idleFor: .seconds(60), limit: 2).expired,
                    try lifecycle.expireIdleSessions(idleFor: .seconds(60), limit: 2).expired)
        }
        // Partition by partition: which two come first depends on their partitions.
        #expect(first.count == 2)
        #expect(second.count == 1)
        #expect(third.isEmpty)
        #expect(Set((first + second).map(\.id)) == Set(ids))
    }

    @Test func twoConcurrentSweepersExpireEachSessionExactlyOnce() async throws {
        let sessionCount = 60
        let fixture = try await OpsFixture.make("expire-two")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let ids = try await fixture.run { lifecycle, raw in
            try (0..<sessionCount).map { index in
                let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
                try Self.backdate(id, by: 120 + Int64(index % 5), raw: raw, fixture: fixture)
                return id
            }
        }
        let sweepers = [fixture.makeLifecycle(poolSize: 1), fixture.makeLifecycle(poolSize: 1)]
        let ready = Counter()
        let results = try await onThreads(2) { index -> [SessionID] in
            // Start both sweeps together.
            ready.increment()
            while ready.value < 2 { sleepOnThread(microseconds: 20) }
            return try sweepers[index].expireIdleSessions(idleFor: .seconds(60)).expired.map(\.id)
        }
        let all = results[0] + results[1]
        let (versions, byUpdate) = try await fixture.run { _, raw in
            (try ids.map { try raw.hgetall(fixture.sessionKey($0))["version"] }, try fixture.byUpdateEntries(raw).count)
        }
        #expect(versions == Array(repeating: "2", count: sessionCount))
        #expect(byUpdate == 0)
        let received = try #require(try await events.eventsBeforeSentinel())
        let expiredEvents = received.compactMap { $0 }.filter { $0.kind == .expired }
        #expect(expiredEvents.count == sessionCount)
        #expect(Set(expiredEvents.map(\.sessionID)) == Set(ids))
        // What the two calls return must match what they did: each session once.
        let reportedByBoth = Set(results[0]).intersection(results[1]).count
        #expect(Set(all) == Set(ids))
        #expect(reportedByBoth == 0)
        #expect(all.count == sessionCount, "sweeper 1 reported \(results[0].count), sweeper 2 \(results[1].count)")
    }

    @Test func aCandidateAlreadyExpiredIsNotReportedAgain() async throws {
        // What a sweeper sees when another sweeper expired a session between its
        // index read and its WATCH: the candidate is already frozen.
        let fixture = try await OpsFixture.make("expire-stale")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let (first, before, second, after) = try await fixture.run { lifecycle, raw in
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            try Self.backdate(id, by: 120, raw: raw, fixture: fixture)
            let first = try lifecycle.expireIdleSessions(idleFor: .seconds(60)).expired
            // The stale candidate list of the other sweeper.
            try raw.send("ZADD", fixture.byUpdateKey(for: id), 1_000, id.text)
            let before = try raw.hgetall(fixture.sessionKey(id))
            let second = try lifecycle.expireIdleSessions(idleFor: .seconds(60)).expired
            return (first, before, second, try raw.hgetall(fixture.sessionKey(id)))
        }
        #expect(first.count == 1)
        #expect(after == before)
        let received = try #require(try await events.eventsBeforeSentinel())
        #expect(received.map { $0?.kind } == [.started, .expired])
        #expect(second.isEmpty, "the second sweep changed nothing but reported \(second.map(\.id))")
    }

    @Test func frozenSessionsLeftInTheIndexDoNotStarveTheSweep() async throws {
        // Two already-expired sessions still hold the oldest by-update scores (as
        // after a writer that set the status without touching the index). With
        // limit 2, the sweep must clear them out of the way to reach the idle one.
        let fixture = try await OpsFixture.make("expire-frozen-head")
        let (frozen, idle, sweeps, status, frozenHashesBefore, frozenHashesAfter) = try await fixture.run { lifecycle, raw in
            var frozen: [SessionID] = []
            for _ in 0..<2 {
                let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
                _ = try lifecycle.endSession(id, status: .cancelled)
                frozen.append(id)
            }
            for (index, id) in frozen.enumerated() { try raw.send("ZADD", fixture.byUpdateKey(for: id), 1_000 + index, id.text) }
            let before = try frozen.map { try raw.hgetall(fixture.sessionKey($0)) }
            let idle = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            try Self.backdate(idle, by: 120, raw: raw, fixture: fixture)
            var sweeps: [[SessionID]] = []
            for _ in 0..<3 { sweeps.append(try lifecycle.expireIdleSessions(idleFor: .seconds(60), limit: 2).expired.map(\.id)) }
            return (frozen, idle, sweeps, try raw.hgetall(fixture.sessionKey(idle))["status"], before,
                    try frozen.map { try raw.hgetall(fixture.sessionKey($0)) })
        }
        #expect(sweeps.flatMap { $0 } == [idle], "sweeps returned \(sweeps)")
        #expect(status == "expired")
        #expect(frozenHashesAfter == frozenHashesBefore)
        #expect(frozen.count == 2)
    }

    @Test func corruptSessionsAtTheHeadOfTheIndexDoNotStarveTheSweep() async throws {
        // Two corrupt hashes hold the oldest by-update scores; with limit 2 every
        // sweep examines only them unless the sweep moves them out of the way.
        let fixture = try await OpsFixture.make("expire-starve")
        let corrupt = [SessionID.random(), SessionID.random()]
        let (idle, sweeps, status, corruptHashes) = try await fixture.run { lifecycle, raw in
            for (index, id) in corrupt.enumerated() {
                try raw.hset(fixture.sessionKey(id), ["session_id": id.text, "status": "active", "version": "abc"])
                try raw.send("ZADD", fixture.byUpdateKey(for: id), 1_000 + index, id.text)
            }
            let idle = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            try Self.backdate(idle, by: 120, raw: raw, fixture: fixture)
            var sweeps: [[SessionID]] = []
            for _ in 0..<3 { sweeps.append(try lifecycle.expireIdleSessions(idleFor: .seconds(60), limit: 2).expired.map(\.id)) }
            return (idle, sweeps, try raw.hgetall(fixture.sessionKey(idle))["status"],
                    try corrupt.map { try raw.hgetall(fixture.sessionKey($0)) })
        }
        #expect(sweeps.flatMap { $0 } == [idle], "sweeps returned \(sweeps)")
        #expect(status == "expired")
        // The corrupt hashes are left alone for a person to look at.
        #expect(corruptHashes.map { $0["version"] } == ["abc", "abc"])
    }
}
