import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Synchronization
import Testing

/// The `async` API: calls from tasks never block the cooperative pool, and
/// cancellation never leaves a connection inside a transaction.
@Suite struct AsyncLifecycleTests {
    @Test func aThousandConcurrentAsyncUpdatesLeaveATickingTaskOnItsThreadsOnTime() async throws {
        // A server of its own, frozen for 2 s mid-run: a call that blocked its caller's
        // thread would hold it that long, so blocking cannot hide behind a fast Redis.
        let server = try await onOwnThread { try RedisTestServer.start() }
        defer { server.stop() }
        let pool = RedisConnectionPool(configuration: server.configuration, size: 8)
        let sessions = try SessionLifecycle(pool: pool, namespace: RedisTestServer.uniquePrefix("async"))
        try await sessions.agents.register(["async-agent"])
        let started = try await withThrowingTaskGroup(of: Session.self) { group in
            for _ in 0..<10 { group.addTask { try await sessions.startSession(agentID: "async-agent", workflowID: "w") } }
            return try await group.reduce(into: [Session]()) { $0.append($1) }
        }

        // The ticker and the updates run on two threads of their own (a service's event
        // loops, say), which no other test shares: a tick there comes late only when a call
        // blocks those threads (or the machine is too busy: a thread outside them is the control).
        let loops = ThreadTaskExecutor(threads: 2)
        defer { loops.shutDown() }
        let latestTick = Mutex<Duration>(.zero)
        let latestControlTick = Mutex<Duration>(.zero)
        let ticking = Atomic<Bool>(true)
        let ticker = Task(executorPreference: loops) {
            let clock = ContinuousClock()
            while ticking.load(ordering: .relaxed) {
                let before = clock.now
                try? await Task.sleep(for: .milliseconds(10))
                let late = clock.now - before - .milliseconds(10)
                latestTick.withLock { $0 = max($0, late) }
            }
        }
        let control = Thread {
            let clock = ContinuousClock()
            while ticking.load(ordering: .relaxed) {
                let before = clock.now
                usleep(10_000)
                let late = clock.now - before - .milliseconds(10)
                latestControlTick.withLock { $0 = max($0, late) }
            }
        }
        control.start()
        let stall = Thread {
            usleep(300_000)
            server.pause()
            usleep(2_000_000)
            server.resume()
        }
        stall.start()
        try await withTaskExecutorPreference(loops) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<1_000 {
                    group.addTask {
                        _ = try await sessions.updateSession(started[index % 10].id, SessionUpdate(metadataPatch: ["u\(index)": .integer(Int64(index))]))
                    }
                }
                try await group.waitForAll()
            }
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
        // A blocking call would have held a loop thread through the 2 s freeze; a machine
        // merely busy with other tests delays the control thread too. The bound is generous
        // (1 s): 1,000 resumptions queue on two threads.
        let late = latestTick.withLock { $0 }
        let controlLate = latestControlTick.withLock { $0 }
        #expect(late < .seconds(1) + controlLate, "a tick on the loops came \(late) late (a thread of its own: \(controlLate))")
    }

    @Test func aCallCancelledBeforeItStartsSendsNothingAndTheConnectionStaysUsable() async throws {
        // One connection and one executor thread: the first call holds both while the second waits.
        let (sessions, session) = try await Self.oneSession(poolSize: 1)
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
        let (sessions, session) = try await Self.oneSession(poolSize: 2)
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

    /// A lifecycle over a pool of `poolSize` in a namespace of its own, with one started session.
    private static func oneSession(poolSize: Int) async throws -> (SessionLifecycle, Session) {
        let pool = RedisConnectionPool(configuration: try RedisTestServer.shared().configuration, size: poolSize)
        let sessions = try SessionLifecycle(pool: pool, namespace: RedisTestServer.uniquePrefix("cancel"))
        try await sessions.agents.register(["cancel-agent"])
        return (sessions, try await sessions.startSession(agentID: "cancel-agent", workflowID: "w"))
    }
}
