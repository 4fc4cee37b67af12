import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `opscore worker`: JSON-line requests on stdin, one reply line each on stdout.
@Suite struct WorkerCommandTests {
    /// A lifecycle with one agent and `count` sessions, made without the CLI.
    private func prepare(_ cli: CLIFixture, sessions count: Int, agent: String = "agent-1") async throws -> (SessionLifecycle, [String]) {
        let lifecycle = cli.lifecycle(poolSize: 2)
        let ids = try await onOwnThread {
            try lifecycle.agents.register([agent])
            return try (0..<count).map { _ in try lifecycle.startSession(agentID: agent, workflowID: "wf").id.text }
        }
        return (lifecycle, ids)
    }

    @Test func concurrencyOneRepliesInRequestOrderWithTheDocumentedOutcomes() async throws {
        let cli = try await CLIFixture.make("worker-order")
        let id = SessionID.random().text
        var requests = [
            #"{"id":1,"op":"register_agent","agent_id":"w-agent"}"#,
            #"{"id":"2","op":"start","agent_id":"w-agent","workflow_id":"wf","session_id":"\#(id)","metadata":{"step":0}}"#,
            #"{"id":3,"op":"get","session_id":"\#(id)"}"#,
            #"{"id":"4","op":"update","session_id":"\#(id)","status":"paused","metadata":{"step":1},"expected_version":1}"#,
            #"{"id":5,"op":"update","session_id":"\#(id)","metadata":{"step":2},"expected_version":1}"#,
            #"{"id":6,"op":"end","session_id":"\#(id)","status":"failed"}"#,
            #"{"id":7,"op":"update","session_id":"\#(id)","status":"active"}"#,
            #"{"id":8,"op":"start","agent_id":"ghost","workflow_id":"wf"}"#,
            #"{"id":9,"op":"start","agent_id":"w-agent","workflow_id":"wf","session_id":"\#(id)"}"#,
            #"{"id":10,"op":"delete","session_id":"\#(id)"}"#,
            #"{"id":11,"op":"get","session_id":"\#(id)"}"#,
        ]
        for index in 12..<60 {
            requests.append(#"{"id":\#(index),"op":"get","session_id":"\#(SessionID.random().text)"}"#)
        }
        let result = try await cli.run(["worker", "--concurrency", "1"], stdin: Array((requests.joined(separator: "\n") + "\n").utf8))
        #expect(result.exitCode == 0, "\(result)")
        let replies = try result.lines.map(JSONObject.init(line:))
        try #require(replies.count == requests.count, "\(result.stdout)")

        let expectedIDs: [JSONValue] = [1, "2", 3, "4"] + (5..<60).map { .integer(Int64($0)) }
        #expect(replies.map { $0["id"] ?? .null } == expectedIDs)
        func code(_ reply: JSONObject) -> String? { reply["error"]?["code"]?.stringValue }
        #expect(replies.map { $0["ok"] ?? .null }.prefix(11) == [true, true, true, true, false, true, false, false, false, true, false])
        #expect(replies[0].keys == ["id", "ok"])
        #expect(replies[1]["session"]?["version"] == .integer(1))
        #expect(replies[1]["session"]?["metadata"] == ["step": 0])
        #expect(replies[2]["session"] == replies[1]["session"])
        #expect(replies[3]["session"]?["status"] == "paused")
        #expect(replies[3]["session"]?["version"] == .integer(2))
        #expect(code(replies[4]) == "version_mismatch")
        #expect(replies[5]["session"]?["status"] == "failed")
        #expect(replies[5]["session"]?["version"] == .integer(3))
        #expect(code(replies[6]) == "invalid_transition")
        #expect(code(replies[7]) == "agent_not_registered")
        #expect(code(replies[8]) == "session_exists")
        #expect(replies[9].keys == ["id", "ok"])
        #expect(replies[10...].allSatisfy { code($0) == "session_not_found" })
        #expect(replies.allSatisfy { $0["ok"] == true || !($0["error"]?["message"]?.stringValue ?? "").isEmpty })
    }

    @Test func concurrencyEightAnswersEveryRequestExactlyOnceAndLosesNoUpdate() async throws {
        let cli = try await CLIFixture.make("worker-many")
        let (_, sessions) = try await prepare(cli, sessions: 4)
        let idless = ["this is not json", "[1,2,3]", #"{"id":{"nested":true},"op":"get"}"#, #"{"id":1.5,"op":"get"}"#, #""just a string""#]

        var lines: [String] = []
        var expected: [JSONValue: String?] = [:]  // id → expected error code (nil: ok)
        var updates = [String: [String]](uniqueKeysWithValues: sessions.map { ($0, []) })
        var idlessCount = 0
        for index in 0..<400 {
            let session = sessions[index % sessions.count]
            switch index % 20 {
            case 0:
                lines.append(idless[(index / 20) % idless.count])
                idlessCount += 1
            case 5:
                lines.append(#"{"id":"bad-\#(index)","op":"get","session_id":"not-a-uuid-\#(index)"}"#)
                expected[.string("bad-\(index)")] = "invalid_input"
            case 10:
                lines.append(#"{"id":"op-\#(index)","op":"teleport"}"#)
                expected[.string("op-\(index)")] = "invalid_request"
            case 15:
                lines.append(#"{"id":"noop-\#(index)"}"#)
                expected[.string("noop-\(index)")] = "invalid_request"
            default:
                if index % 2 == 1 {
                    lines.append(#"{"id":\#(index),"op":"update","session_id":"\#(session)","metadata":{"k\#(index)":\#(index)}}"#)
                    expected[.integer(Int64(index))] = .some(nil)
                    updates[session, default: []].append("k\(index)")
                } else {
                    lines.append(#"{"id":"get-\#(index)","op":"get","session_id":"\#(session)"}"#)
                    expected[.string("get-\(index)")] = .some(nil)
                }
            }
        }
        let result = try await cli.run(["worker", "--concurrency", "8"], stdin: Array((lines.joined(separator: "\n") + "\n").utf8), timeout: 30)
        #expect(result.exitCode == 0, "\(result.stderr)")

        let replies = try result.lines.map(JSONObject.init(line:))
        #expect(replies.count == 400)
        var seen: [JSONValue: Int] = [:]
        var nullReplies = 0
        for reply in replies {
            let id = reply["id"] ?? .string("<absent>")
            let code = reply["error"]?["code"]?.stringValue
            if id == .null {
                nullReplies += 1
                #expect(reply["ok"] == false)
                #expect(code == "invalid_request", "\(reply)")
                continue
            }
            seen[id, default: 0] += 1
            guard let want = expected[id] else {
                Issue.record("reply with an unknown id: \(reply)")
                continue
            }
            if let want {
                #expect(reply["ok"] == false)
                #expect(code == want, "\(reply)")
            } else {
                #expect(reply["ok"] == true, "\(reply)")
                #expect(reply["session"]?["session_id"] != nil)
            }
        }
        #expect(nullReplies == idlessCount)
        #expect(Set(seen.keys) == Set(expected.keys))
        #expect(seen.values.allSatisfy { $0 == 1 }, "answered more than once: \(seen.filter { $0.value != 1 })")

        // Every update committed: version 1 + updates, and every patched key present.
        let hashes = try await cli.redis { [cli] redis in try sessions.map { try redis.hgetall(cli.sessionKey($0)) } }
        for (session, hash) in zip(sessions, hashes) {
            let keys = updates[session] ?? []
            #expect(hash["version"] == "\(1 + keys.count)")
            let metadata = try JSONValue(parsing: hash["metadata"] ?? "")
            #expect(Set(metadata.objectValue?.keys.map { $0 } ?? []) == Set(keys))
        }
    }

    @Test func sigtermFinishesTheRequestsAlreadyReadAndExitsZero() async throws {
        let cli = try await CLIFixture.make("worker-stop")
        let (_, sessions) = try await prepare(cli, sessions: 1)
        let session = sessions[0]
        let worker = try CLIProcess(["worker", "--concurrency", "4"] + cli.flags, environment: childEnvironment())
        defer { worker.kill() }

        func request(_ id: String) -> String { #"{"id":"\#(id)","op":"update","session_id":"\#(session)","metadata":{"\#(id)":true}}"# + "\n" }
        let early = (0..<30).map { "early-\($0)" }
        let late = (0..<20).map { "late-\($0)" }
        #expect(worker.write(early.map(request).joined()))
        let answered = try await onOwnThread { worker.stdout.waitForLines(early.count, timeout: 10) }
        try #require(answered.count == early.count, "\(worker.stderr.text)")

        #expect(worker.write(late.map(request).joined()))
        worker.signal(SIGTERM)
        let status = try await onOwnThread { worker.waitForExit(timeout: 5) }
        #expect(status == .exited(0))
        let result = worker.finish(timeout: 1)

        let replies = try result.lines.map(JSONObject.init(line:))
        let ids = replies.map { $0.string("id") }
        #expect(Set(ids).count == ids.count, "a request was answered twice")
        #expect(Set(ids).isSuperset(of: early))
        #expect(Set(ids).isSubset(of: early + late))
        #expect(replies.allSatisfy { $0["ok"] == true }, "\(result.stdout)")
        // Every reply is a committed update, and nothing else was committed.
        let key = cli.sessionKey(session)
        let version = try await cli.redis { try $0.hget(key, "version") }
        #expect(version == "\(1 + replies.count)")
    }

    @Test func endOfInputAnswersEverythingAndExitsZero() async throws {
        let cli = try await CLIFixture.make("worker-eof")
        let (_, sessions) = try await prepare(cli, sessions: 1)
        let session = sessions[0]
        var input = "\n   \n"
        var ids: Set<String> = []
        for index in 0..<25 {
            input += #"{"id":"r\#(index)","op":"get","session_id":"\#(session)"}"# + "\n"
            ids.insert("r\(index)")
        }
        input += #"{"id":"crlf","op":"get","session_id":"\#(session)"}"# + "\r\n\t\n"
        input += #"{"id":"last","op":"get","session_id":"\#(session)"}"#  // no final newline
        ids.formUnion(["crlf", "last"])

        let result = try await cli.run(["worker", "--concurrency", "4"], stdin: Array(input.utf8))
        #expect(result.exitCode == 0, "\(result.stderr)")
        let replies = try result.lines.map(JSONObject.init(line:))
        #expect(replies.count == ids.count, "\(result.stdout)")
        #expect(Set(replies.map { $0.string("id") }) == ids)
        #expect(replies.allSatisfy { $0["ok"] == true && $0["session"]?["session_id"] == .string(session) })

        let empty = try await cli.run(["worker"])
        #expect(empty.exitCode == 0)
        #expect(empty.stdout.isEmpty)
    }

    @Test func workerAnswersRedisFailuresWithTheirCodesAndKeepsGoing() async throws {
        let requests = (0..<3).map { #"{"id":\#($0),"op":"get","session_id":"\#(SessionID.random().text)"}"# }.joined(separator: "\n") + "\n"

        let port = try closedPort()
        let down = try await runOpscore(
            ["worker", "--redis-url", "redis://127.0.0.1:\(port)/0", "--namespace", "down", "--format", "json"],
            stdin: Array(requests.utf8))
        #expect(down.exitCode == 0, "\(down)")
        let downReplies = try down.lines.map(JSONObject.init(line:))
        #expect(Set(downReplies.compactMap { $0["id"] }) == [0, 1, 2])
        #expect(downReplies.allSatisfy { $0["ok"] == false && $0["error"]?["code"] == "redis_unavailable" })

        let server = try await startPrivateServer(.init(password: "worker-secret"))
        defer { server.stop() }
        let denied = try await runOpscore(
            ["worker", "--redis-url", "redis://:not-it@127.0.0.1:\(server.port)/0", "--namespace", "denied", "--format", "json"],
            stdin: Array(requests.utf8))
        #expect(denied.exitCode == 0, "\(denied)")
        let deniedReplies = try denied.lines.map(JSONObject.init(line:))
        #expect(Set(deniedReplies.compactMap { $0["id"] }) == [0, 1, 2])
        #expect(deniedReplies.allSatisfy { $0["ok"] == false && $0["error"]?["code"] == "redis_denied" })
        #expect(!denied.stdout.contains("not-it") && !denied.stderr.contains("not-it"))
    }

    @Test func twoSweepingWorkersExpireEachIdleSessionExactlyOnce() async throws {
        let cli = try await CLIFixture.make("worker-sweep")
        let (lifecycle, idle) = try await prepare(cli, sessions: 20)
        let busy = try await onOwnThread {
            try (0..<2).map { _ in try lifecycle.startSession(agentID: "agent-1", workflowID: "busy").id }
        }
        let recorder = EventRecorder(configuration: cli.server.configuration, channel: cli.eventsChannel)
        defer { recorder.stop() }
        #expect(try await onOwnThread { recorder.waitUntilSubscribed(timeout: 10) })

        // Keep the busy sessions fresh: one update each every 50 ms, started (and
        // one round done) before any sweeper runs.
        let keepAlive = KeepAlive()
        defer { keepAlive.stop() }
        let keepingAlive = Task.detached {
            try await onOwnThread {
                var tick: Int64 = 0
                while keepAlive.isRunning {
                    tick += 1
                    for id in busy { _ = try lifecycle.updateSession(id, SessionUpdate(metadataPatch: ["tick": .integer(tick)])) }
                    keepAlive.ticked()
                    usleep(50_000)
                }
            }
        }
        #expect(try await onOwnThread { waitUntil(timeout: 10) { keepAlive.ticks > 0 } })

        let arguments = ["worker", "--concurrency", "1", "--expire-after", "0.5", "--sweep-interval", "0.1"] + cli.flags
        let workers = try (0..<2).map { _ in try CLIProcess(arguments, environment: childEnvironment()) }
        defer { workers.forEach { $0.kill() } }

        let keys = idle.map(cli.sessionKey)
        let allExpired = try await cli.redis { redis in
            try waitUntil(timeout: 15) { try keys.allSatisfy { try redis.hget($0, "status") == "expired" } }
        }
        #expect(allExpired)
        // Give both sweepers a few more rounds to (wrongly) expire anything twice.
        try await Task.sleep(for: .milliseconds(600))
        let busyKeys = busy.map { cli.sessionKey($0.text) }
        let busyStatuses = try await cli.redis { redis in try busyKeys.map { try redis.hget($0, "status") } }
        #expect(busyStatuses == ["active", "active"], "longest pause between keep-alive rounds: \(keepAlive.longestGap) s")
        keepAlive.stop()
        try await keepingAlive.value

        for worker in workers { worker.closeStdin() }
        for worker in workers {
            let status = try await onOwnThread { worker.waitForExit(timeout: 5) }
            #expect(status == .exited(0))
        }

        let expired = recorder.events.filter { $0.string("type") == "session.expired" }
        #expect(expired.count == idle.count)
        #expect(Set(expired.map { $0.string("session_id") }) == Set(idle))
        #expect(expired.allSatisfy { $0.string("previous_status") == "active" && $0["version"] == .integer(2) })
        let (versions, live) = try await cli.redis { [cli] redis in
            (try keys.map { try redis.hget($0, "version") }, try redis.zrangeMerged(cli.byUpdateKeys))
        }
        #expect(versions.allSatisfy { $0 == "2" })
        #expect(Set(live) == Set(busy.map(\.text)))
    }
}

/// The keep-alive loop's stop flag and its pace.
final class KeepAlive: Sendable {
    private struct Pace {
        var ticks = 0
        var last: Date?
        var longestGap: TimeInterval = 0
    }

    private let running = Atomic<Bool>(true)
    private let pace = Mutex(Pace())

    var isRunning: Bool { running.load(ordering: .relaxed) }
    func stop() { running.store(false, ordering: .relaxed) }

    /// Notes one finished round of updates.
    func ticked() {
        let now = Date()
        pace.withLock {
            $0.ticks += 1
            if let last = $0.last { $0.longestGap = max($0.longestGap, now.timeIntervalSince(last)) }
            $0.last = now
        }
    }

    /// Rounds finished so far.
    var ticks: Int { pace.withLock { $0.ticks } }
    /// The longest time between two finished rounds, in seconds.
    var longestGap: TimeInterval { pace.withLock { $0.longestGap } }
}

/// Records every message on one channel through a `RedisSubscriber`.
final class EventRecorder: Sendable {
    private struct State {
        var subscribed = false
        var payloads: [[UInt8]] = []
    }

    private let subscriber: RedisSubscriber
    private let state = Mutex(State())

    init(configuration: RedisConfiguration, channel: String) {
        subscriber = RedisSubscriber(configuration: configuration, channels: [channel])
        Task.detached { [self] in
            for await event in subscriber.events {
                switch event {
                case .subscribed: state.withLock { $0.subscribed = true }
                case .message(let message): state.withLock { $0.payloads.append(message.payload) }
                case .disconnected: break
                }
            }
        }
        subscriber.start()
    }

    /// Blocks until the subscription is in place or the timeout passes.
    func waitUntilSubscribed(timeout: TimeInterval) -> Bool {
        waitUntil(timeout: timeout) { state.withLock { $0.subscribed } }
    }

    /// The messages so far, parsed.
    var events: [JSONObject] {
        state.withLock { $0.payloads }.compactMap { try? JSONObject(line: String(decoding: $0, as: UTF8.self)) }
    }

    func stop() { subscriber.stop() }
}
