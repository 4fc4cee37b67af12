import Foundation
import OpsCore
import RedisTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The long-running commands across a Redis restart: they keep going, say so on
/// stderr, and work again once Redis is back.
@Suite struct RedisOutageTests {
    @Test func watchReconnectsAfterARedisRestartAndPrintsLaterEvents() async throws {
        let server = try await startPrivateServer(.init())
        defer { server.stop() }
        let namespace = RedisTestServer.uniquePrefix("outage-watch")
        let flags = ["--redis-url", "redis://127.0.0.1:\(server.port)/0", "--namespace", namespace, "--format", "json"]
        let register = try await runOpscore(["agent", "register", "agent-1"] + flags)
        try #require(register.exitCode == 0, "\(register)")

        let watcher = try CLIProcess(["watch", "--since", "beginning"] + flags, environment: childEnvironment(), stdinBytes: [])
        defer { watcher.kill() }
        let before = try await runOpscore(["session", "start", "--agent", "agent-1", "--workflow", "before"] + flags)
        #expect(before.exitCode == 0)
        #expect(try await onOwnThread { watcher.stdout.waitForLines(1, timeout: 10) }.count == 1)

        try await onOwnThread {
            server.kill()
            try server.restart()
        }
        // The restarted server is empty: register again. The watch resumes where it was.
        #expect(try await runOpscore(["agent", "register", "agent-1"] + flags).exitCode == 0)
        let after = try await runOpscore(["session", "start", "--agent", "agent-1", "--workflow", "after"] + flags)
        #expect(after.exitCode == 0)
        let lines = try await onOwnThread { watcher.stdout.waitForLines(2, timeout: 10) }
        #expect(lines.count == 2)
        #expect(try lines.map { try JSONObject(line: $0).string("workflow_id") } == ["before", "after"])
        #expect(watcher.isAlive)
        #expect(watcher.stderr.text.contains("lost connection"), "\(watcher.stderr.text)")
        #expect(watcher.stderr.text.contains("reconnected"), "\(watcher.stderr.text)")

        watcher.signal(SIGTERM)
        #expect(try await onOwnThread { watcher.waitForExit(timeout: 5) } == .exited(0))
    }

    @Test func workerAnswersRedisUnavailableDuringAnOutageAndRecoversAfterIt() async throws {
        let server = try await startPrivateServer(.init())
        defer { server.stop() }
        let namespace = RedisTestServer.uniquePrefix("outage-worker")
        let flags = ["--redis-url", "redis://127.0.0.1:\(server.port)/0", "--namespace", namespace, "--format", "json"]
        let worker = try CLIProcess(["worker", "--concurrency", "2"] + flags, environment: childEnvironment())
        defer { worker.kill() }

        func ask(_ id: Int) async throws -> JSONObject {
            worker.write(#"{"id":\#(id),"op":"register_agent","agent_id":"agent-\#(id)"}"# + "\n")
            let lines = try await onOwnThread { worker.stdout.waitForLines(id, timeout: 10) }
            try #require(lines.count == id, "\(worker.stderr.text)")
            return try JSONObject(line: lines[id - 1])
        }
        #expect(try await ask(1)["ok"] == true)
        try await onOwnThread { server.kill() }
        let during = try await ask(2)
        #expect(during["ok"] == false)
        #expect(during["error"]?["code"] == "redis_unavailable")
        try await onOwnThread { try server.restart() }
        let recovered = try await ask(3)
        #expect(recovered["ok"] == true, "\(recovered)")
        #expect(worker.isAlive)

        worker.closeStdin()
        #expect(try await onOwnThread { worker.waitForExit(timeout: 5) } == .exited(0))
        let stderr = worker.finish(timeout: 1).stderr
        #expect(stderr.contains("unavailable"), "\(stderr)")
    }
}
