import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Testing

/// Writes at the edges: metadata as deep as the reader accepts, a command that
/// fails inside EXEC, updates that change no value, and namespaces.
@Suite struct SessionWriteEdgeTests {
    /// An object nesting `levels` levels: `{"n":{"n":…{}}}`.
    static func nested(_ levels: Int) -> [String: JSONValue] {
        var value = JSONValue.object([:])
        for _ in 1..<levels { value = .object(["n": value]) }
        guard case .object(let object) = value else { return [:] }
        return object
    }

    @Test func metadataNestedDeeperThan64LevelsIsRefusedAndWhatIsStoredReadsBack() async throws {
        let fixture = try await OpsFixture.make("depth")
        let (deepStart, deepPatch, kept, keys) = try await fixture.run { lifecycle, raw in
            let deepStart = attempt { () throws(OpsCoreError) in
                try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: Self.nested(65))
            }
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: Self.nested(64))
            let deepPatch = attempt { () throws(OpsCoreError) in
                try lifecycle.updateSession(session.id, SessionUpdate(metadataPatch: ["other": .object(Self.nested(64))]))
            }
            return (deepStart, deepPatch, try lifecycle.getSession(session.id), try raw.keys(fixture.sessionKeyPattern))
        }
        #expect(deepStart.failure?.invalidField == "metadata")
        #expect(deepPatch.failure?.invalidField == "metadata")
        #expect(kept.metadata == Self.nested(64))
        #expect(kept.version == 1)
        #expect(keys.count == 1)
    }

    @Test func anIndexKeyOfTheWrongTypeMakesAnUpdatePartiallyAppliedOnce() async throws {
        let fixture = try await OpsFixture.make("partial")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let (outcome, hash, indexKey) = try await fixture.run { lifecycle, raw in
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            try raw.send("DEL", fixture.byUpdateKey(for: id))
            try raw.send("SET", fixture.byUpdateKey(for: id), "written by another tool")
            let outcome = attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .paused)) }
            return (outcome, try raw.hgetall(fixture.sessionKey(id)), fixture.byUpdateKey(for: id))
        }
        let error = try #require(outcome.failure)
        #expect(error.code == "partially_applied")
        guard case .partiallyApplied(let command, let key, let reason) = error else {
            Issue.record("expected partiallyApplied, got \(error)")
            return
        }
        #expect(command == "ZADD")
        #expect(key == indexKey)
        #expect(reason.hasPrefix("WRONGTYPE"))
        // The hash part committed, exactly once: no retry.
        #expect(hash["status"] == "paused")
        #expect(hash["version"] == "2")
        let received = try #require(try await events.eventsBeforeSentinel()).compactMap { $0 }
        #expect(received.map(\.version) == [1, 2])
    }

    @Test func anUpdateThatChangesNoValueNamesOnlyTheTimeAndVersionInChanged() async throws {
        let fixture = try await OpsFixture.make("heartbeat")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let (after, hash) = try await fixture.run { lifecycle, raw in
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: ["a": 1]).id
            _ = try lifecycle.updateSession(id, SessionUpdate(status: .active))
            _ = try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["a": 1, "gone": .null]))
            _ = try lifecycle.updateSession(id, SessionUpdate(status: .active, metadataPatch: ["a": 2]))
            let after = try lifecycle.updateSession(id, SessionUpdate(status: .paused, metadataPatch: ["a": 2]))
            return (after, try raw.hgetall(fixture.sessionKey(id)))
        }
        let received = try #require(try await events.eventsBeforeSentinel()).compactMap { $0 }
        let timed = ["last_updated_time", "version"]
        #expect(received.dropFirst().map(\.changed) == [timed, timed, ["metadata"] + timed, ["status"] + timed])
        #expect(received.map(\.version) == [1, 2, 3, 4, 5])
        #expect(after.version == 5)
        #expect(hash["version"] == "5")
        #expect(hash["metadata"] == #"{"a":2}"#)
        #expect(hash["status"] == "paused")
    }

    @Test(arguments: ["opscore:agent:x", "a b", "", "{p}", "x\n", String(repeating: "a", count: 65), "é"])
    func aNamespaceOutsideTheSafeAlphabetIsRefused(namespace: String) throws {
        #expect(throws: OpsCoreError.self) { try KeySpace(namespace: namespace) }
        let pool = RedisConnectionPool(configuration: RedisConfiguration(), size: 1)
        #expect(throws: OpsCoreError.self) { try SessionLifecycle(pool: pool, namespace: namespace) }
    }

    @Test(arguments: ["opscore", "a", "Team_1.prod-eu", String(repeating: "a", count: 64)])
    func aNamespaceOfTheSafeAlphabetIsAccepted(namespace: String) throws {
        #expect(try KeySpace(namespace: namespace).namespace == namespace)
    }
}
