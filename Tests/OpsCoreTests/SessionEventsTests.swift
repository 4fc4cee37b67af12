import OpsCore
import Redis
import RedisTestSupport
import Testing

/// The events on `<ns>:events`, received with a `RedisSubscriber`: one per
/// committed change, none for a refused one.
@Suite struct SessionEventsTests {
    @Test func everyCommittedChangePublishesOneEventInCommitOrder() async throws {
        let fixture = try await OpsFixture.make("events")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let sessions = try await fixture.run { lifecycle, _ in
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf-e", metadata: ["a": 1]).id
            return [
                try lifecycle.getSession(id),
                try lifecycle.updateSession(id, SessionUpdate(status: .paused)),
                try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["b": 2])),
                try lifecycle.updateSession(id, SessionUpdate(status: .active, metadataPatch: ["a": .null])),
                try lifecycle.endSession(id, status: .cancelled),
            ]
        }
        try await fixture.run { lifecycle, _ in try lifecycle.deleteSession(sessions[0].id) }

        let payloads = try #require(try await events.payloadsBeforeSentinel())
        let received = payloads.map { SessionEvent(json: $0) }
        try #require(received.count == 6)
        let id = sessions[0].id
        let origin = fixture.lifecycle.origin
        #expect(origin == "origin-\(fixture.namespace)")
        let timed = ["last_updated_time", "version"]
        let expected: [SessionEvent] = [
            SessionEvent(kind: .started, sessionID: id, agentID: fixture.agent, workflowID: "wf-e", status: .active,
                         previousStatus: nil, version: 1, changed: startedChangedFields, at: sessions[0].startTime, origin: origin),
            SessionEvent(kind: .updated, sessionID: id, agentID: fixture.agent, workflowID: "wf-e", status: .paused,
                         previousStatus: .active, version: 2, changed: ["status"] + timed, at: sessions[1].lastUpdatedTime, origin: origin),
            SessionEvent(kind: .updated, sessionID: id, agentID: fixture.agent, workflowID: "wf-e", status: .paused,
                         previousStatus: .paused, version: 3, changed: ["metadata"] + timed, at: sessions[2].lastUpdatedTime, origin: origin),
            SessionEvent(kind: .updated, sessionID: id, agentID: fixture.agent, workflowID: "wf-e", status: .active,
                         previousStatus: .paused, version: 4, changed: ["status", "metadata"] + timed, at: sessions[3].lastUpdatedTime, origin: origin),
            SessionEvent(kind: .ended, sessionID: id, agentID: fixture.agent, workflowID: "wf-e", status: .cancelled,
                         previousStatus: .active, version: 5, changed: ["status"] + timed, at: sessions[4].lastUpdatedTime, origin: origin),
        ]
        for (index, event) in expected.enumerated() {
            #expect(received[index] == event, "event \(index)")
        }
        let deleted = try #require(received[5])
        #expect(deleted.kind == .deleted)
        #expect(deleted.sessionID == id)
        #expect(deleted.status == .cancelled)
        #expect(deleted.previousStatus == .cancelled)
        #expect(deleted.version == 5)
        #expect(deleted.changed == [])
        #expect(deleted.origin == origin)
        #expect(deleted.at >= sessions[4].lastUpdatedTime)
        // The wire form is the documented field order (re-encoding gives the same bytes).
        for (payload, event) in zip(payloads, received) {
            #expect(event.map { String(decoding: $0.jsonBytes, as: UTF8.self) } == String(decoding: payload, as: UTF8.self))
        }
        #expect(events.disconnections == 0)
    }

    @Test func updateToAnEndingStatusAnnouncesSessionEnded() async throws {
        let fixture = try await OpsFixture.make("events-end")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let ended = try await fixture.run { lifecycle, _ in
            let id = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf").id
            _ = try lifecycle.updateSession(id, SessionUpdate(status: .paused))
            return try lifecycle.updateSession(id, SessionUpdate(status: .completed, metadataPatch: ["result": "ok"]))
        }
        let received = try #require(try await events.eventsBeforeSentinel())
        #expect(received.map { $0?.kind } == [.started, .updated, .ended])
        #expect(received.last??.status == .completed)
        #expect(received.last??.previousStatus == .paused)
        #expect(received.last??.changed == ["status", "metadata", "last_updated_time", "version"])
        #expect(received.last??.version == ended.version)
    }

    @Test func refusedChangesPublishNothing() async throws {
        let fixture = try await OpsFixture.make("events-refused")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let (live, ended) = try await fixture.run { lifecycle, _ in
            let live = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            let ended = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            _ = try lifecycle.endSession(ended.id)
            return (live.id, ended.id)
        }
        // Three commits so far: two starts and an end.
        let committed = await events.payloads(atLeast: 3)
        #expect(committed.compactMap { SessionEvent(json: $0)?.kind } == [.started, .started, .ended])

        let missing = SessionID.random()
        let failures = try await fixture.run { lifecycle, _ in
            [
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(ended, SessionUpdate(status: .active)) },
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(ended, SessionUpdate(metadataPatch: ["x": 1])) },
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(ended, status: .failed) },
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(live, SessionUpdate(status: .paused, expectedVersion: 7)) },
                attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: "unregistered", workflowID: "wf") },
                attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: live) },
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(missing, SessionUpdate(status: .paused)) },
                attempt { () throws(OpsCoreError) in try lifecycle.endSession(live, status: .active) },
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(live, SessionUpdate()) },
            ].map { $0.failure?.code }
            + [attempt { () throws(OpsCoreError) in try lifecycle.deleteSession(missing) }.failure?.code]
        }
        #expect(failures == [
            "invalid_transition", "invalid_transition", "invalid_transition", "version_mismatch",
            "agent_not_registered", "session_exists", "session_not_found", "invalid_input", "invalid_input",
            "session_not_found",
        ])
        // The sentinel comes right after the three committed events.
        let all = try #require(try await events.payloadsBeforeSentinel())
        #expect(all == committed)
    }

    @Test func eventsCarryTheLifecyclesOriginAndDefaultToTheHostName() async throws {
        let fixture = try await OpsFixture.make("events-origin")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let hostDefault = try SessionLifecycle(pool: fixture.pool, namespace: fixture.namespace)
        let other = fixture.makeLifecycle(origin: "host-b")
        try await onOwnThread {
            _ = try hostDefault.startSession(agentID: fixture.agent, workflowID: "wf")
            _ = try other.startSession(agentID: fixture.agent, workflowID: "wf")
        }
        let received = try #require(try await events.eventsBeforeSentinel())
        #expect(received.map { $0?.origin } == [hostDefault.origin, "host-b"])
        #expect(!hostDefault.origin.isEmpty)
        #expect(hostDefault.origin != "unknown")
    }
}
