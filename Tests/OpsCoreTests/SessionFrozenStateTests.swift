import OpsCore
import Redis
import RedisTestSupport
import Testing

/// Ended, expired and deleted sessions: every further change is refused and
/// Redis is left exactly as it was.
@Suite struct SessionFrozenStateTests {
    /// Puts a fresh session into `status`: by `endSession`, or by the idle sweep for `expired`.
    static func freeze(_ lifecycle: SessionLifecycle, fixture: OpsFixture, status: SessionStatus) throws -> Session {
        let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: ["m": 1])
        if status == .expired {
            sleepOnThread(milliseconds: 3)
            let expired = try lifecycle.expireIdleSessions(idleFor: .milliseconds(1)).expired
            guard expired.map(\.id) == [session.id] else { throw TestServerError("sweep expired \(expired.map(\.id))") }
            return expired[0]
        }
        return try lifecycle.endSession(session.id, status: status)
    }

    @Test(arguments: [SessionStatus.completed, .failed, .cancelled, .expired])
    func aFrozenSessionRefusesEveryChangeAndStaysAsItWas(status: SessionStatus) async throws {
        let fixture = try await OpsFixture.make("frozen")
        let (frozen, before, errors, after) = try await fixture.run { lifecycle, raw in
            let frozen = try Self.freeze(lifecycle, fixture: fixture, status: status)
            let before = try raw.snapshot(frozen.id, agent: fixture.agent, keys: fixture.keys)
            let id = frozen.id
            let errors: [OpsCoreError?] = [
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .active)) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .paused)) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["m": 2])) }.failure,
                attempt { () throws(OpsCoreError) in
                    try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["m": 2], expectedVersion: frozen.version))
                }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .completed)) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(id) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(id, status: .failed) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(id, status: .cancelled) }.failure,
            ]
            return (frozen, before, errors, try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(frozen.status == status)
        #expect(frozen.version == 2)
        #expect(before.hash["status"] == status.rawValue)
        #expect(before.byUpdateScore == nil)
        #expect(errors == [
            .invalidTransition(from: status, to: .active),
            .invalidTransition(from: status, to: .paused),
            .invalidTransition(from: status, to: status),
            .invalidTransition(from: status, to: status),
            .invalidTransition(from: status, to: .completed),
            .invalidTransition(from: status, to: .completed),
            .invalidTransition(from: status, to: .failed),
            .invalidTransition(from: status, to: .cancelled),
        ])
        #expect(errors.allSatisfy { $0?.code == "invalid_transition" })
        #expect(after == before)
    }

    @Test func aSessionMarkedExpiredByAnotherWriterIsFrozenToo() async throws {
        let fixture = try await OpsFixture.make("frozen-raw")
        let (before, update, end, after) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            try raw.hset(fixture.sessionKey(session.id), ["status": "expired"])
            let before = try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys)
            return (before,
                    attempt { () throws(OpsCoreError) in try lifecycle.updateSession(session.id, SessionUpdate(status: .active)) },
                    attempt { () throws(OpsCoreError) in try lifecycle.endSession(session.id) },
                    try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(update.failure == .invalidTransition(from: .expired, to: .active))
        #expect(end.failure == .invalidTransition(from: .expired, to: .completed))
        #expect(after == before)
    }

    @Test func refusedChangesToFrozenSessionsPublishNothing() async throws {
        let fixture = try await OpsFixture.make("frozen-events")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let refused = try await fixture.run { lifecycle, _ in
            let frozen = try Self.freeze(lifecycle, fixture: fixture, status: .completed)
            return [
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(frozen.id, SessionUpdate(status: .active)) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(frozen.id) }.failure,
            ]
        }
        #expect(refused.allSatisfy { $0?.code == "invalid_transition" })
        let received = try #require(try await events.eventsBeforeSentinel())
        #expect(received.map { $0?.kind } == [.started, .ended])
    }

    // MARK: deleted

    @Test func updateOrEndOfADeletedSessionIsNotFoundAndLeavesNoKey() async throws {
        let fixture = try await OpsFixture.make("deleted")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let (id, errors, snapshot, keys) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            try lifecycle.deleteSession(session.id)
            let id = session.id
            let errors: [OpsCoreError?] = [
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .paused)) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["a": 1])) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(id) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(id, status: .failed) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.getSession(id) }.failure,
            ]
            return (id, errors, try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys),
                    try raw.keys("\(fixture.namespace):*"))
        }
        #expect(errors == Array(repeating: .sessionNotFound(id), count: 5))
        #expect(snapshot == SessionSnapshot(type: "none", hash: [:], agentIndexScore: nil, byUpdateScore: nil))
        // The agent index and by-update index were emptied, so Redis dropped them;
        // the partition's event stream keeps the start and the delete.
        #expect(keys == fixture.keysWithoutSessions.union([fixture.eventStreamKey(for: id)]))
        let received = try #require(try await events.eventsBeforeSentinel())
        #expect(received.map { $0?.kind } == [.started, .deleted])
    }

    @Test func updatesRacingADeleteNeverRecreateTheSession() async throws {
        let fixture = try await OpsFixture.make("deleted-race")
        let session = try await fixture.run { lifecycle, _ in
            try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
        }
        let lifecycles = (0..<3).map { _ in fixture.makeLifecycle(poolSize: 1) }
        let successes = Counter()
        let outcomes = try await onThreads(3) { thread -> [String] in
            var codes: [String] = []
            if thread == 2 {
                // Delete while both updaters are going.
                while successes.value < 40 { sleepOnThread(microseconds: 100) }
                try lifecycles[thread].deleteSession(session.id)
                return ["deleted"]
            }
            for round in 0..<80 {
                let result = attempt { () throws(OpsCoreError) in
                    try lifecycles[thread].updateSession(session.id, SessionUpdate(metadataPatch: ["t\(thread)": .integer(Int64(round))]))
                }
                if result.failure == nil { successes.increment() }
                codes.append(result.failure?.code ?? "ok")
            }
            return codes
        }
        #expect(outcomes[2] == ["deleted"])
        let codes = outcomes[0] + outcomes[1]
        #expect(Set(codes) == ["ok", "session_not_found"])
        // Once not found, always not found.
        for thread in 0..<2 {
            let firstMissing = outcomes[thread].firstIndex(of: "session_not_found") ?? outcomes[thread].count
            #expect(outcomes[thread][firstMissing...].allSatisfy { $0 == "session_not_found" })
        }
        let snapshot = try await fixture.run { _, raw in try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys) }
        #expect(snapshot.type == "none")
        #expect(snapshot.agentIndexScore == nil)
        #expect(snapshot.byUpdateScore == nil)
    }
}
