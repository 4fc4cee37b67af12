import OpsCore
import Redis
import RedisTestSupport
import Synchronization
import Testing

/// Many writers on one session, each on its own connection: WATCH/MULTI/EXEC
/// with retries must lose nothing and announce every commit exactly once.
@Suite struct SessionConcurrencyTests {
    /// What one writer saw.
    struct WriterReport: Sendable {
        var versions: [Int64] = []
        var failures: [String] = []
    }

    @Test func eightWritersWithTheirOwnLifecyclesUpdatingOneSessionLoseNoUpdate() async throws {
        let fixture = try await OpsFixture.make("no-lost")
        // One lifecycle, pool and connection per writer: they meet only in Redis.
        let lifecycles = (0..<8).map { _ in fixture.makeLifecycle(poolSize: 1) }
        try await Self.hammer(fixture: fixture, lifecycles: lifecycles, updatesPerWriter: 200)
    }

    /// DESIGN's bar: 16 writers hammering one session all commit with the default retry bound.
    @Test func sixteenWritersWithTheirOwnLifecyclesUpdatingOneSessionLoseNoUpdate() async throws {
        let fixture = try await OpsFixture.make("no-lost-16")
        let lifecycles = (0..<16).map { _ in fixture.makeLifecycle(poolSize: 1) }
        try await Self.hammer(fixture: fixture, lifecycles: lifecycles, updatesPerWriter: 50)
    }

    @Test func eightWritersSharingOneLifecycleOfEightConnectionsLoseNoUpdate() async throws {
        let fixture = try await OpsFixture.make("no-lost-shared")
        let shared = fixture.makeLifecycle(poolSize: 8)
        try await Self.hammer(fixture: fixture, lifecycles: Array(repeating: shared, count: 8), updatesPerWriter: 100)
    }

    /// Writer `w` adds `"w<w>-<i>": i` for i in 0..<updatesPerWriter, all at once
    /// on one session; then every key must be there, the version must count every
    /// update, and each update must have been announced once, in version order.
    static func hammer(fixture: OpsFixture, lifecycles: [SessionLifecycle], updatesPerWriter: Int) async throws {
        let writers = lifecycles.count
        let total = writers * updatesPerWriter
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let session = try await fixture.run { lifecycle, _ in
            try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf-hammer")
        }

        let reports = try await onThreads(writers) { writer in
            var report = WriterReport()
            for index in 0..<updatesPerWriter {
                let key = "w\(writer)-\(index)"
                let update = SessionUpdate(metadataPatch: [key: .integer(Int64(index))])
                switch attempt({ () throws(OpsCoreError) in try lifecycles[writer].updateSession(session.id, update) }) {
                case .success(let updated):
                    report.versions.append(updated.version)
                    // The session returned is the one at this update's version.
                    if updated.metadata[key] != .integer(Int64(index)) { report.failures.append("\(key) missing from its own result") }
                case .failure(let error): report.failures.append("\(error.code): \(error)")
                }
            }
            return report
        }

        for (writer, report) in reports.enumerated() {
            #expect(report.failures.isEmpty, "writer \(writer): \(report.failures.prefix(3))")
            #expect(report.versions.count == updatesPerWriter)
            // Each writer's own commits happen in order.
            #expect(zip(report.versions, report.versions.dropFirst()).allSatisfy { $0 < $1 }, "writer \(writer)")
        }
        // Every version 2...total+1 was returned to exactly one writer.
        #expect(reports.flatMap(\.versions).sorted() == Array(2...Int64(total + 1)))

        let (hash, stored) = try await fixture.run { lifecycle, raw in
            (try raw.hgetall(fixture.sessionKey(session.id)), try lifecycle.getSession(session.id))
        }
        #expect(hash["version"] == "\(total + 1)")
        #expect(stored.version == Int64(total + 1))
        #expect(stored.metadata.count == total)
        var missing: [String] = []
        for writer in 0..<writers {
            for index in 0..<updatesPerWriter where stored.metadata["w\(writer)-\(index)"] != .integer(Int64(index)) {
                missing.append("w\(writer)-\(index)")
            }
        }
        #expect(missing.isEmpty, "missing keys: \(missing.prefix(10))")
        #expect(parsedJSON(hash["metadata"] ?? "") == .object(stored.metadata))

        // 1 started + `total` updated events, in version order, then nothing else.
        let payloads = await events.payloads(atLeast: total + 1, timeout: .seconds(60))
        let received = payloads.compactMap { SessionEvent(json: $0) }
        #expect(received.count == payloads.count)
        #expect(received.first?.kind == .started)
        let updated = received.filter { $0.kind == .updated }
        #expect(updated.count == total)
        #expect(updated.map(\.version) == Array(2...Int64(total + 1)))
        #expect(updated.allSatisfy { $0.sessionID == session.id && $0.changed == ["metadata", "last_updated_time", "version"] })
        #expect(zip(updated, updated.dropFirst()).allSatisfy { $0.at <= $1.at })
        let afterSentinel = try await events.payloadsBeforeSentinel()
        #expect(afterSentinel?.count == total + 1)
        #expect(events.disconnections == 0)

        // The partition's stream holds the same events, one entry per commit, in version order.
        let streamed = try await fixture.run { _, raw in try raw.streamEvents(fixture.eventStreamKey(for: session.id)) }
        #expect(streamed.count == total + 1)
        #expect(streamed.map(\.payload) == Array(payloads.prefix(total + 1)))
        #expect(streamed.compactMap { SessionEvent(json: $0.payload)?.version } == Array(1...Int64(total + 1)))
    }

    @Test(arguments: [false, true])
    func concurrentStatusChangesAndAnEndNeverResurrectTheEndedSession(sharedLifecycle: Bool) async throws {
        let fixture = try await OpsFixture.make("race-end")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let session = try await fixture.run { lifecycle, _ in
            try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
        }
        let shared = fixture.makeLifecycle(poolSize: 4)
        let lifecycles = (0..<4).map { _ in sharedLifecycle ? shared : fixture.makeLifecycle(poolSize: 1) }
        let successes = Counter()
        // Three togglers flip active/paused while the fourth thread ends the session part way.
        let outcomes = try await onThreads(4) { thread -> [String] in
            if thread == 3 {
                while successes.value < 30 { sleepOnThread(microseconds: 100) }
                // Through updateSession, so that on a shared lifecycle the end can share a batch with toggles.
                return [attempt { () throws(OpsCoreError) in
                    try lifecycles[thread].updateSession(session.id, SessionUpdate(status: .failed))
                }.failure?.code ?? "ended"]
            }
            var codes: [String] = []
            for round in 0..<60 {
                let status: SessionStatus = round % 2 == 0 ? .paused : .active
                let code = attempt { () throws(OpsCoreError) in try lifecycles[thread].updateSession(session.id, SessionUpdate(status: status)) }
                    .failure?.code ?? "ok"
                if code == "ok" { successes.increment() }
                codes.append(code)
            }
            return codes
        }
        #expect(outcomes[3] == ["ended"])
        let toggles = outcomes[0..<3].flatMap { $0 }
        #expect(Set(toggles) == ["ok", "invalid_transition"])
        // Once refused, always refused: the session never comes back.
        for thread in 0..<3 {
            let firstRefusal = outcomes[thread].firstIndex(of: "invalid_transition") ?? outcomes[thread].count
            #expect(outcomes[thread][firstRefusal...].allSatisfy { $0 == "invalid_transition" }, "thread \(thread)")
        }
        let succeeded = toggles.filter { $0 == "ok" }.count

        let (hash, byUpdate) = try await fixture.run { _, raw in
            (try raw.hgetall(fixture.sessionKey(session.id)), try raw.zscore(fixture.byUpdateKey(for: session.id), session.id.text))
        }
        #expect(hash["status"] == "failed")
        #expect(hash["version"] == "\(succeeded + 2)")
        #expect(byUpdate == nil)
        let received = try #require(try await events.eventsBeforeSentinel())
        #expect(received.count == succeeded + 2)
        // Nothing after the end, and one event per version.
        #expect(received.last??.kind == .ended)
        #expect(received.map { $0?.version } == (1...Int64(succeeded + 2)).map { $0 })
    }

    @Test func refusedUpdatesDoNotDisturbConcurrentUpdatesOfTheSameSession() async throws {
        // On one lifecycle concurrent updates of a session may be applied together;
        // a refused one must fail alone and publish nothing.
        let fixture = try await OpsFixture.make("mixed-batch")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let session = try await fixture.run { lifecycle, _ in
            try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
        }
        let shared = fixture.makeLifecycle(poolSize: 4)
        let outcomes = try await onThreads(6) { thread -> [String] in
            (0..<40).map { index in
                let update = thread % 2 == 0
                    ? SessionUpdate(metadataPatch: ["t\(thread)-\(index)": true])
                    : SessionUpdate(metadataPatch: ["never": true], expectedVersion: 0)  // no version is 0
                return attempt { () throws(OpsCoreError) in try shared.updateSession(session.id, update) }.failure?.code ?? "ok"
            }
        }
        for (thread, codes) in outcomes.enumerated() {
            #expect(codes == Array(repeating: thread % 2 == 0 ? "ok" : "version_mismatch", count: 40), "thread \(thread)")
        }
        let stored = try await fixture.run { lifecycle, _ in try lifecycle.getSession(session.id) }
        #expect(stored.version == 1 + 120)
        #expect(stored.metadata.count == 120)
        #expect(stored.metadata["never"] == nil)
        let received = try #require(try await events.eventsBeforeSentinel())
        #expect(received.count == 121)
        #expect(received.map { $0?.version } == (1...Int64(121)).map { $0 })
    }
}
