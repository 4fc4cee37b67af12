import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Synchronization
import Testing

/// The `async` API: calls from tasks never block the cooperative pool, and
/// cancellation never leaves a connection inside a transaction.
@Suite struct AsyncLifecycleTests {
    @Test func aThousandConcurrentAsyncUpdatesLeaveATickingTaskOnTime() async throws {
        let server = try RedisTestServer.shared()
        let pool = RedisConnectionPool(configuration: server.configuration, size: 8)
        let sessions = try SessionLifecycle(pool: pool, namespace: RedisTestServer.uniquePrefix("async"))
        try await sessions.agents.register(["async-agent"])
        let started = try await withThrowingTaskGroup(of: Session.self) { group in
            for _ in 0..<10 { group.addTask { try await sessions.startSession(agentID: "async-agent", workflowID: "w") } }
            return try await group.reduce(into: [Session]()) { $0.append($1) }
        }

        // A task on the cooperative pool that notes how late each 10 ms tick comes.
        let latestTick = Mutex<Duration>(.zero)
        let ticking = Atomic<Bool>(true)
        let ticker = Task {
            let clock = ContinuousClock()
            while ticking.load(ordering: .relaxed) {
                let before = clock.now
                try? await Task.sleep(for: .milliseconds(10))
                let late = clock.now - before - .milliseconds(10)
                latestTick.withLock { $0 = max($0, late) }
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<1_000 {
                group.addTask {
                    _ = try await sessions.updateSession(started[index % 10].id, SessionUpdate(metadataPatch: ["u\(index)": .integer(Int64(index))]))
                }
            }
            try await group.waitForAll()
        }
        ticking.store(false, ordering: .relaxed)
        await ticker.value

        // Every update committed: each session is at 1 + 100 updates, with all its fields.
        for (offset, session) in started.enumerated() {
            let final = try await sessions.getSession(session.id)
            #expect(final.version == 101)
            #expect(final.metadata.count == 100)
            #expect(final.metadata["u\(offset)"] != nil)
        }
        let late = latestTick.withLock { $0 }
        #expect(late < .milliseconds(500), "a tick on the cooperative pool came \(late) late")
    }

    @Test func aCallCancelledBeforeItStartsSendsNothingAndTheConnectionStaysUsable() async throws {
        let server = try RedisTestServer.shared()
        // One connection and one executor thread: the first call holds both while the second waits.
        let pool = RedisConnectionPool(configuration: server.configuration, size: 1)
        let sessions = try SessionLifecycle(pool: pool, namespace: RedisTestServer.uniquePrefix("cancel"))
        try await sessions.agents.register(["cancel-agent"])
        let session = try await sessions.startSession(agentID: "cancel-agent", workflowID: "w")
        let gate = DispatchSemaphore(value: 0)
        let blocker = Task { try await sessions.store.executor.run { gate.wait() } }
        try await Task.sleep(for: .milliseconds(50))
        let waiting = Task { try await sessions.updateSession(session.id, SessionUpdate(metadataPatch: ["never": true])) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        gate.signal()
        try await blocker.value

        let after = try await sessions.getSession(session.id)
        #expect(after.version == 1)
        #expect(after.metadata["never"] == nil)
        // The one connection was never touched by the cancelled call: the next update works.
        #expect(try await sessions.updateSession(session.id, SessionUpdate(metadataPatch: ["next": 1])).version == 2)
    }

    @Test func aCallCancelledWhileRunningCompletesItsTransaction() async throws {
        let server = try RedisTestServer.shared()
        let pool = RedisConnectionPool(configuration: server.configuration, size: 2)
        let sessions = try SessionLifecycle(pool: pool, namespace: RedisTestServer.uniquePrefix("cancel-run"))
        try await sessions.agents.register(["run-agent"])
        let session = try await sessions.startSession(agentID: "run-agent", workflowID: "w")
        let updates = (0..<50).map { index in
            Task { try await sessions.updateSession(session.id, SessionUpdate(metadataPatch: ["k\(index)": .integer(Int64(index))])) }
        }
        try await Task.sleep(for: .milliseconds(2))
        updates.forEach { $0.cancel() }
        var committed = 0
        for update in updates {
            do {
                _ = try await update.value
                committed += 1
            } catch is CancellationError {
                continue
            }
        }
        // Each update either committed whole or never started: the version counts exactly the committed ones.
        let final = try await sessions.getSession(session.id)
        #expect(final.version == Int64(1 + committed))
        #expect(final.metadata.count == committed)
        #expect(try await sessions.updateSession(session.id, SessionUpdate(metadataPatch: ["after": 1])).version == Int64(2 + committed))
    }
}
