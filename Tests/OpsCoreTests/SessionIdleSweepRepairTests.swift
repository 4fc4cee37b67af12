import OpsCore
import Redis
import RedisTestSupport
import Testing

/// The idle sweep cannot be stalled: junk and stale index entries are removed
/// or re-scored, and a candidate that fails does not end the pass.
@Suite struct SessionIdleSweepRepairTests {
    @Test func onePassExpiresEveryIdleSessionDespite600JunkIndexEntries() async throws {
        let fixture = try await OpsFixture.make("sweep-junk")
        struct Outcome: Sendable {
            var idle: [SessionID] = []
            var stale: [SessionID] = []
            var frozen = SessionID.random()
            var corrupt = SessionID.random()
            var report = IdleSweepReport()
            var index: [ScoredMember] = []
            var statuses: [SessionID: String] = [:]
            var lastUpdates: [SessionID: Int64] = [:]
        }
        let outcome = try await fixture.run { lifecycle, raw in
            var outcome = Outcome()
            // 600 members that name no session, older than every session, in one partition's index.
            let junkIndex = fixture.byUpdateKey(partition: 0)
            for number in 0..<600 { try raw.send("ZADD", junkIndex, number, "junk-\(number)") }
            try raw.send("ZADD", junkIndex, 600, "0B6F7C1E-3F0A-4A57-9A43-2F1F8F6F1C2D")  // not canonical
            for age in 0..<5 {
                // Idle sessions in the junk's partition too, behind all of it.
                let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: age < 2 ? OpsFixture.sessionID(inPartition: 0) : nil).id
                try SessionExpiryTests.backdate(id, by: 120 + Int64(age), raw: raw, fixture: fixture)
                outcome.idle.append(id)
            }
            // Live sessions whose index score is older than their last update.
            for number in 0..<30 {
                let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
                try raw.send("ZADD", fixture.byUpdateKey(for: id), 700 + number, id.text)
                outcome.stale.append(id)
            }
            // A frozen session and a key of the wrong type left in the index by another tool.
            let frozen = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            _ = try lifecycle.endSession(frozen)
            try raw.send("ZADD", fixture.byUpdateKey(for: frozen), 800, frozen.text)
            outcome.frozen = frozen
            try raw.send("SET", fixture.sessionKey(outcome.corrupt), "not a hash")
            try raw.send("ZADD", fixture.byUpdateKey(for: outcome.corrupt), 801, outcome.corrupt.text)

            outcome.report = try lifecycle.expireIdleSessions(idleFor: .seconds(60))
            outcome.index = try fixture.byUpdateEntries(raw)
            for id in outcome.idle + outcome.stale {
                let hash = try raw.hgetall(fixture.sessionKey(id))
                outcome.statuses[id] = hash["status"]
                outcome.lastUpdates[id] = hash["last_updated_time"].flatMap { Timestamp(iso8601: Array($0.utf8)) }.map(\.millisecondsSince1970)
            }
            return outcome
        }
        #expect(Set(outcome.report.expired.map(\.id)) == Set(outcome.idle))
        #expect(outcome.idle.allSatisfy { outcome.statuses[$0] == "expired" })
        #expect(outcome.stale.allSatisfy { outcome.statuses[$0] == "active" })
        #expect(outcome.report.removedEntries == 600 + 1 + 2)
        #expect(outcome.report.rescoredEntries == 30)
        #expect(outcome.report.failures.isEmpty)
        // What is left is exactly the live sessions, each scored by its last update.
        #expect(outcome.index.map(\.member).sorted() == outcome.stale.map(\.text).sorted())
        for entry in outcome.index {
            let id = try #require(SessionID(entry.member))
            #expect(entry.score == outcome.lastUpdates[id])
        }
    }

    @Test func aCandidateThatFailsIsReportedAndThePassGoesOn() async throws {
        let fixture = try await OpsFixture.make("sweep-fail")
        let user = RedisTestServer.uniquePrefix("sweeper")
        let ns = fixture.namespace
        let (denied, allowed) = try await fixture.run { lifecycle, raw in
            // This user may touch sessions whose id starts with a digit, not with a letter.
            try raw.send("ACL", "SETUSER", user, "on", ">pw", "+@all", "&*", "~\(ns):meta", "~\(ns):agents",
                         "~\(ns):sessions:by_update", "~\(ns):{?}:by_update", "~\(ns):{?}:events", "~\(ns):{?}:session:[0-9]*")
            var denied: [SessionID] = []
            var allowed: [SessionID] = []
            for index in 0..<8 {
                let letter = index < 4
                let id = try #require(SessionID((letter ? "a" : "1") + SessionID.random().text.dropFirst()))
                _ = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: id)
                // The denied ones are the oldest, so they come first in the index.
                try SessionExpiryTests.backdate(id, by: 200 - Int64(index), raw: raw, fixture: fixture)
                if letter { denied.append(id) } else { allowed.append(id) }
            }
            return (denied, allowed)
        }
        defer { Task { try? await fixture.run { _, raw in try raw.send("ACL", "DELUSER", user) } } }
        var configuration = fixture.server.configuration
        configuration.username = user
        configuration.password = "pw"
        let sweeper = try SessionLifecycle(pool: RedisConnectionPool(configuration: configuration, size: 1), namespace: ns)
        let (report, statuses) = try await fixture.run { _, raw in
            let report = try sweeper.expireIdleSessions(idleFor: .seconds(60))
            let statuses = try (denied + allowed).map { try raw.hgetall(fixture.sessionKey($0))["status"] }
            return (report, statuses)
        }
        #expect(report.expired.map(\.id) == allowed)
        #expect(report.failures.map(\.sessionID) == denied)
        #expect(report.failures.allSatisfy { $0.error.code == "redis_denied" })
        #expect(statuses == Array(repeating: "active", count: 4) + Array(repeating: "expired", count: 4))
    }
}
