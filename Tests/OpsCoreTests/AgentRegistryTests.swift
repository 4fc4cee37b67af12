import OpsCore
import Redis
import RedisTestSupport
import Synchronization
import Testing

/// The agents set, and starts racing an agent's removal.
@Suite struct AgentRegistryTests {
    @Test func registerListRemoveAndIsRegisteredKeepTheAgentsSet() async throws {
        let fixture = try await OpsFixture.make("agents", register: false)
        let result = try await fixture.run { lifecycle, raw in
            let agents = lifecycle.agents
            let added = try agents.register(["b", "a", "c"])
            let again = try agents.register(["a", "d"])
            let afterRegister = try fixture.agentSets(raw)
            let listed = try agents.list()
            let registered = (try agents.isRegistered("a"), try agents.isRegistered("zz"))
            let removed = (try agents.remove("a"), try agents.remove("a"))
            return (added, again, afterRegister, listed, registered, removed, try fixture.agentSets(raw), try agents.list())
        }
        #expect(result.0 == 3)
        #expect(result.1 == 1)
        #expect(result.2 == Array(repeating: ["a", "b", "c", "d"], count: 16))
        #expect(result.3 == ["a", "b", "c", "d"])
        #expect(result.4 == (true, false))
        #expect(result.5 == (true, false))
        #expect(result.6 == Array(repeating: ["b", "c", "d"], count: 16))
        #expect(result.7 == ["b", "c", "d"])
    }

    @Test func badAgentIDsAreRefusedAndNothingIsWritten() async throws {
        let fixture = try await OpsFixture.make("agents-bad", register: false)
        let (codes, fields, exists) = try await fixture.run { lifecycle, raw in
            let errors: [OpsCoreError?] = [
                attempt { () throws(OpsCoreError) in try lifecycle.agents.register([]) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.agents.register(["good", ""]) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.agents.register(["good", String(repeating: "x", count: 257)]) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.agents.register(["good", "bad\u{1B}[31m"]) }.failure,
                attempt { () throws(OpsCoreError) in try lifecycle.agents.remove("") }.failure,
            ]
            return (errors.map { $0?.code }, errors.map { $0?.invalidField }, try fixture.agentSets(raw).contains { !$0.isEmpty })
        }
        #expect(codes == Array(repeating: "invalid_input", count: 5))
        #expect(fields == Array(repeating: "agent_id", count: 5))
        // Not even the good id of a batch was written.
        #expect(!exists)
    }

    @Test func removingAnAgentKeepsItsSessionsButRefusesNewOnes() async throws {
        let fixture = try await OpsFixture.make("agents-removed")
        let (session, removed, start, read, updated, listed, indexSize) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            let removed = try lifecycle.agents.remove(fixture.agent)
            let start = attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf") }
            return (session, removed, start, try lifecycle.getSession(session.id),
                    try lifecycle.updateSession(session.id, SessionUpdate(status: .paused)),
                    try lifecycle.listSessions(agent: fixture.agent).sessions,
                    try fixture.agentIndexEntries(raw).count)
        }
        #expect(removed)
        #expect(start.failure == .agentNotRegistered(agentID: fixture.agent))
        #expect(read == session)
        #expect(updated.version == 2)
        #expect(listed.map(\.id) == [session.id])
        #expect(indexSize == 1)
    }

    /// One thread starts sessions for agent A while another removes and
    /// re-registers A. The toggler changes the agents set inside MULTI together
    /// with a marker PUBLISHed on the events channel, so the channel's order is
    /// Redis's commit order: every `session.started` must sit in a window where
    /// A was registered.
    @Test func aConcurrentlyRemovedAgentNeverGetsANewSession() async throws {
        let fixture = try await OpsFixture.make("agents-race")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let agent = fixture.agent
        let starter = fixture.makeLifecycle(poolSize: 1)
        let registeredMarker = "marker:registered"
        let removedMarker = "marker:removed"

        struct StarterReport: Sendable {
            var attempts = 0
            var started: [SessionID] = []
            var refused = 0
            var otherErrors: [String] = []
        }
        let done = Flag()
        let results = try await onThreads(2) { thread -> StarterReport in
            var report = StarterReport()
            if thread == 0 {
                defer { done.set() }
                // At least 300 attempts; keep going (bounded) until both outcomes were seen.
                while report.attempts < 300 || ((report.started.count < 10 || report.refused < 10) && report.attempts < 3_000) {
                    report.attempts += 1
                    // All in partition 0, whose agents set the other thread toggles.
                    let id = OpsFixture.sessionID(inPartition: 0)
                    switch attempt({ () throws(OpsCoreError) in try starter.startSession(agentID: agent, workflowID: "wf-race", sessionID: id) }) {
                    case .success(let session): report.started.append(session.id)
                    case .failure(.agentNotRegistered): report.refused += 1
                    case .failure(let error): report.otherErrors.append("\(error.code): \(error)")
                    }
                }
            } else {
                let raw = try RawRedis(fixture.server)
                var cycles = 0
                while !done.isSet {
                    for (command, marker) in [("SREM", removedMarker), ("SADD", registeredMarker)] {
                        let replies = try raw.connection.pipeline([
                            RedisCommand("MULTI"),
                            RedisCommand(command, fixture.agentsKey(partition: 0), agent),
                            RedisCommand("PUBLISH", fixture.eventsChannel, marker),
                            RedisCommand("EXEC"),
                        ])
                        guard case .array = replies[3] else { throw TestServerError("EXEC failed: \(replies[3])") }
                        sleepOnThread(microseconds: 50 + cycles % 7 * 40)
                    }
                    cycles += 1
                }
                report.attempts = cycles
            }
            return report
        }
        let report = results[0]
        #expect(report.otherErrors.isEmpty, "\(report.otherErrors.prefix(3))")
        #expect(report.started.count + report.refused == report.attempts)
        // Not vacuous: both outcomes happened, and the agent was toggled many times.
        #expect(report.started.count >= 10)
        #expect(report.refused >= 10)
        #expect(results[1].attempts >= 10)

        // Walk the channel in commit order. A is registered at the start.
        let payloads = try #require(try await events.payloadsBeforeSentinel())
        var registered = true
        var startedInOrder: [SessionID] = []
        var startedWhileRemoved: [SessionID] = []
        var unexpected: [String] = []
        for payload in payloads {
            let text = String(decoding: payload, as: UTF8.self)
            if text == registeredMarker {
                registered = true
            } else if text == removedMarker {
                registered = false
            } else if let event = SessionEvent(json: payload), event.kind == .started, event.agentID == agent {
                startedInOrder.append(event.sessionID)
                if !registered { startedWhileRemoved.append(event.sessionID) }
            } else {
                unexpected.append(text)
            }
        }
        #expect(unexpected.isEmpty)
        #expect(startedWhileRemoved.isEmpty, "sessions started while the agent was removed: \(startedWhileRemoved)")
        #expect(startedInOrder == report.started)

        // Redis holds exactly the sessions that were reported started.
        let started = report.started
        let (index, sessionKeys, byUpdate, missingHashes) = try await fixture.run { _, raw in
            (Set(try fixture.agentIndexEntries(raw).map { $0.member }),
             try raw.keys(fixture.sessionKeyPattern),
             try fixture.byUpdateEntries(raw).count,
             try started.filter { try raw.hgetall(fixture.sessionKey($0))["agent_id"] != agent })
        }
        #expect(index == Set(started.map(\.text)))
        #expect(sessionKeys == Set(started.map(fixture.sessionKey)))
        #expect(byUpdate == started.count)
        #expect(missingHashes.isEmpty)

        // Finally: A removed for good; every start is refused and nothing appears.
        let (removed, finalResults, indexAfter, keysAfter) = try await fixture.run { lifecycle, raw in
            let removed = try lifecycle.agents.remove(agent)
            let results = (0..<20).map { _ in
                attempt { () throws(OpsCoreError) in try starter.startSession(agentID: agent, workflowID: "wf-final") }.failure
            }
            return (removed, results, try fixture.agentIndexEntries(raw).count, try raw.keys(fixture.sessionKeyPattern))
        }
        #expect(removed)  // the toggler always leaves A registered
        #expect(finalResults == Array(repeating: .agentNotRegistered(agentID: agent), count: 20))
        #expect(indexAfter == started.count)
        #expect(keysAfter == sessionKeys)
        let tail = try #require(try await events.payloadsBeforeSentinel())
        #expect(tail.count == payloads.count + 1)  // only the first sentinel
    }
}
