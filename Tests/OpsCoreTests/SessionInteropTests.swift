import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Testing

/// Sessions written by another program with plain HSET, as DESIGN.md
/// describes them, and hashes that do not follow it.
@Suite struct SessionInteropTests {
    /// A session hash written field by field, the way a Python or redis-cli writer would.
    static func writeRawSession(
        _ raw: RawRedis, fixture: OpsFixture, id: SessionID,
        overriding overrides: [String: String?] = [:]
    ) throws {
        var fields: [(String, String)] = [
            ("session_id", id.text),
            ("agent_id", fixture.agent),
            ("workflow_id", "wf-python"),
            ("status", "paused"),
            ("start_time", "2024-02-29T23:59:59.999Z"),
            ("last_updated_time", "2024-03-01T00:00:00.250Z"),
            ("metadata", #"{"from":"python","n":[1,2],"nested":{"keep":1,"drop":2}}"#),
            ("version", "7"),
        ]
        for (name, value) in overrides {
            fields.removeAll { $0.0 == name }
            if let value { fields.append((name, value)) }
        }
        let key = fixture.sessionKey(id)
        for (name, value) in fields { try raw.send("HSET", key, name, value) }
        try raw.send("ZADD", fixture.agentIndexKey(for: id), 1_709_251_199_999, id.text)
        try raw.send("ZADD", fixture.byUpdateKey(for: id), 1_709_251_200_250, id.text)
    }

    @Test func aSessionWrittenFieldByFieldReadsBackAndUpdates() async throws {
        let fixture = try await OpsFixture.make("interop")
        let id = SessionID.random()
        let (read, listed, updated, hash, byUpdate) = try await fixture.run { lifecycle, raw in
            try Self.writeRawSession(raw, fixture: fixture, id: id)
            let read = try lifecycle.getSession(id)
            let listed = try lifecycle.listSessions(agent: fixture.agent).sessions
            let updated = try lifecycle.updateSession(id, SessionUpdate(
                status: .active, metadataPatch: ["nested": ["drop": .null], "by": "swift"], expectedVersion: 7))
            return (read, listed, updated, try raw.hgetall(fixture.sessionKey(id)), try raw.zscore(fixture.byUpdateKey(for: id), id.text))
        }
        #expect(read.id == id)
        #expect(read.agentID == fixture.agent)
        #expect(read.workflowID == "wf-python")
        #expect(read.status == .paused)
        #expect(read.startTime == Timestamp(millisecondsSince1970: 1_709_251_199_999))
        #expect(read.lastUpdatedTime == Timestamp(millisecondsSince1970: 1_709_251_200_250))
        #expect(read.metadata == ["from": "python", "n": [1, 2], "nested": ["keep": 1, "drop": 2]])
        #expect(read.version == 7)
        #expect(listed == [read])

        #expect(updated.status == .active)
        #expect(updated.version == 8)
        #expect(updated.metadata == ["from": "python", "n": [1, 2], "nested": ["keep": 1], "by": "swift"])
        #expect(updated.lastUpdatedTime > read.lastUpdatedTime)
        #expect(hash["status"] == "active")
        #expect(hash["version"] == "8")
        #expect(hash["start_time"] == "2024-02-29T23:59:59.999Z")
        #expect(hash["workflow_id"] == "wf-python")
        #expect(hash["last_updated_time"] == updated.lastUpdatedTime.description)
        #expect(hash["metadata"] == #"{"by":"swift","from":"python","n":[1,2],"nested":{"keep":1}}"#)
        #expect(byUpdate == updated.lastUpdatedTime.millisecondsSince1970)
    }

    @Test func anUppercaseSessionIDFieldIsReadAsTheLowercaseID() async throws {
        let fixture = try await OpsFixture.make("interop-upper")
        let id = SessionID.random()
        let read = try await fixture.run { lifecycle, raw in
            try Self.writeRawSession(raw, fixture: fixture, id: id, overriding: ["session_id": id.text.uppercased()])
            return try lifecycle.getSession(id)
        }
        #expect(read.id == id)
    }

    /// A field value that breaks DESIGN.md, and the field the error must name.
    struct Corruption: Sendable, CustomTestStringConvertible {
        var field: String
        var value: String?  // nil: the field is missing
        var testDescription: String { "\(field) = \(value.map { $0.debugDescription } ?? "missing")" }
    }

    @Test(arguments: [
        Corruption(field: "version", value: "abc"),
        Corruption(field: "version", value: "0"),
        Corruption(field: "version", value: "-3"),
        Corruption(field: "version", value: ""),
        Corruption(field: "version", value: nil),
        Corruption(field: "start_time", value: nil),
        Corruption(field: "start_time", value: "2024-02-29T23:59:59Z"),
        Corruption(field: "last_updated_time", value: "2023-02-29T00:00:00.000Z"),
        Corruption(field: "last_updated_time", value: "1709251200250"),
        Corruption(field: "status", value: "running"),
        Corruption(field: "status", value: "ACTIVE"),
        Corruption(field: "status", value: nil),
        Corruption(field: "metadata", value: "[1]"),
        Corruption(field: "metadata", value: "{"),
        Corruption(field: "metadata", value: "null"),
        Corruption(field: "metadata", value: nil),
        Corruption(field: "session_id", value: "not-a-uuid"),
        Corruption(field: "session_id", value: nil),
        Corruption(field: "agent_id", value: ""),
        Corruption(field: "agent_id", value: "bad\u{0}agent"),
        Corruption(field: "workflow_id", value: nil),
    ])
    func aMalformedFieldIsReportedAsCorruptNamingKeyAndFieldAndNothingChanges(corruption: Corruption) async throws {
        let fixture = try await OpsFixture.make("corrupt")
        let id = SessionID.random()
        let (before, get, update, metadataOnly, end, list, after) = try await fixture.run { lifecycle, raw in
            try Self.writeRawSession(raw, fixture: fixture, id: id, overriding: [corruption.field: corruption.value])
            let before = try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys)
            return (
                before,
                attempt { () throws(OpsCoreError) in try lifecycle.getSession(id) },
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .active)) },
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["a": 1])) },
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(id) },
                try lifecycle.listSessions(agent: fixture.agent),
                try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys)
            )
        }
        let place = CorruptPlace(key: fixture.sessionKey(id), field: corruption.field)
        #expect(get.failure?.corruptKeyAndField == place)
        #expect(get.failure?.code == "corrupt_session")
        #expect(update.failure?.corruptKeyAndField == place)
        #expect(metadataOnly.failure?.corruptKeyAndField == place)
        #expect(end.failure?.corruptKeyAndField == place)
        #expect(list.sessions.isEmpty)
        #expect(list.corrupt.map(\.corruptKeyAndField) == [place])
        #expect(after == before)
    }

    @Test func aKeyOfTheWrongTypeIsACorruptSession() async throws {
        let fixture = try await OpsFixture.make("wrongtype")
        let id = SessionID.random()
        let key = fixture.sessionKey(id)
        let (get, update, end, value, type) = try await fixture.run { lifecycle, raw in
            try raw.send("SET", key, "not a hash")
            return (attempt { () throws(OpsCoreError) in try lifecycle.getSession(id) },
                    attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .paused)) },
                    attempt { () throws(OpsCoreError) in try lifecycle.endSession(id) },
                    try raw.send("GET", key).text,
                    try raw.type(key))
        }
        for result in [get, update, end] {
            #expect(result.failure?.code == "corrupt_session")
            #expect(result.failure?.corruptKeyAndField?.key == key)
        }
        #expect(value == "not a hash")
        #expect(type == "string")
    }

    @Test func aHashWhoseSessionIDDiffersFromItsKeyIsCorrupt() async throws {
        // Otherwise an update of key A would publish an event for, and index, session B.
        let fixture = try await OpsFixture.make("mismatch-id")
        let id = SessionID.random()
        let other = SessionID.random()
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let (get, update, byUpdateOther) = try await fixture.run { lifecycle, raw in
            try Self.writeRawSession(raw, fixture: fixture, id: id, overriding: ["session_id": other.text])
            return (attempt { () throws(OpsCoreError) in try lifecycle.getSession(id) },
                    attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .active)) },
                    try raw.zscore(fixture.byUpdateKey(for: other), other.text))
        }
        #expect(get.failure?.corruptKeyAndField == CorruptPlace(key: fixture.sessionKey(id), field: "session_id"))
        #expect(update.failure?.corruptKeyAndField == CorruptPlace(key: fixture.sessionKey(id), field: "session_id"))
        #expect(byUpdateOther == nil)
        let published = try #require(try await events.eventsBeforeSentinel())
        #expect(published.compactMap { $0?.sessionID }.contains(other) == false)
    }

    /// The call made on a session at the largest version, in a child process.
    enum VersionLimitCall: String, Sendable, Codable, CaseIterable {
        case update, end, sweep
    }

    /// What the child process needs to reach the session.
    struct ChildTarget: Sendable, Codable {
        var url: String
        var namespace: String
        var id: SessionID
        var call: VersionLimitCall
    }

    @Test(arguments: VersionLimitCall.allCases)
    func aVersionThatCannotBeIncrementedIsRefusedInsteadOfCrashing(call: VersionLimitCall) async throws {
        // "version" is a decimal integer, +1 on every change: at Int64.max the next
        // change cannot be counted. Reading the session is fine; changing it must be
        // refused with an error, never trap (a trap in the sweep kills the worker).
        let fixture = try await OpsFixture.make("version-max")
        let id = SessionID.random()
        let before = try await fixture.run { _, raw in
            try Self.writeRawSession(raw, fixture: fixture, id: id, overriding: ["version": "\(Int64.max)"])
            return try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys)
        }
        let target = ChildTarget(url: fixture.server.url, namespace: fixture.namespace, id: id, call: call)
        // A trap would end the test process, so the call runs in a child process.
        await #expect(processExitsWith: .success) { [target = target as ChildTarget] in
            let refused = try await onOwnThread { () -> Bool in
                let configuration = try RedisConfiguration(url: target.url)
                let lifecycle = try SessionLifecycle(pool: RedisConnectionPool(configuration: configuration, size: 1), namespace: target.namespace)
                let id = target.id
                switch target.call {
                case .update:
                    return attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["a": 1])) }
                        .failure != nil
                case .end:
                    return attempt { () throws(OpsCoreError) in try lifecycle.endSession(id) }.failure != nil
                case .sweep:
                    return attempt { () throws(OpsCoreError) in try lifecycle.expireIdleSessions(idleFor: .seconds(60)).expired }
                        .success?.isEmpty == true
                }
            }
            if !refused { exit(3) }
        }
        let (read, after) = try await fixture.run { lifecycle, raw in
            (attempt { () throws(OpsCoreError) in try lifecycle.getSession(id) },
             try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys))
        }
        // Reading may show the version or call it corrupt; it must not be changed.
        #expect(read.success?.version == Int64.max || read.failure?.corruptKeyAndField?.field == "version")
        #expect(after.hash == before.hash)
        #expect(after.agentIndexScore == before.agentIndexScore)
        if call != .sweep {
            // The sweep may drop a session it cannot expire from its index; nothing else may.
            #expect(after.byUpdateScore == before.byUpdateScore)
        }
    }

    @Test func deleteRemovesACorruptSessionAndItsIndexEntriesWithoutAnEvent() async throws {
        let fixture = try await OpsFixture.make("delete-corrupt")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let id = SessionID.random()
        let snapshot = try await fixture.run { lifecycle, raw in
            try Self.writeRawSession(raw, fixture: fixture, id: id, overriding: ["version": "abc"])
            try lifecycle.deleteSession(id)
            return try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys)
        }
        #expect(snapshot == SessionSnapshot(type: "none", hash: [:], agentIndexScore: nil, byUpdateScore: nil))
        #expect(try await events.payloadsBeforeSentinel() == [])
    }
}
