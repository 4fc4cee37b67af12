import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A command the CLI must refuse: its arguments (with placeholders for prepared
/// state) and the documented exit code.
struct RefusedCommand: Sendable, CustomTestStringConvertible {
    /// What the case shows.
    var name: String
    /// Arguments before the fixture's flags. `{agent}`, `{active}`, `{completed}`
    /// and `{missing}` are replaced by a registered agent, an active session, a
    /// completed session and a session id that does not exist.
    var arguments: [String]
    /// The expected exit code.
    var exitCode: Int32
    /// Text the error line must contain, if any.
    var mentions: String?

    init(_ name: String, _ arguments: [String], _ exitCode: Int32, mentions: String? = nil) {
        self.name = name
        self.arguments = arguments
        self.exitCode = exitCode
        self.mentions = mentions
    }

    var testDescription: String { "\(name) → \(exitCode)" }

    static let oversizedMetadata = #"{"blob":""# + String(repeating: "x", count: 64 * 1024) + #""}"#

    static let all: [RefusedCommand] = [
        // 64: bad usage or bad input.
        RefusedCommand("get with a bad UUID", ["session", "get", "not-a-uuid"], 64, mentions: "not-a-uuid"),
        RefusedCommand("update with a bad UUID", ["session", "update", "1234", "--status", "paused"], 64),
        RefusedCommand("delete with a bad UUID", ["session", "delete", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"], 64),
        RefusedCommand("start with invalid JSON metadata", ["session", "start", "--agent", "{agent}", "--workflow", "wf", "--metadata", #"{"a":"#], 64, mentions: "metadata"),
        RefusedCommand("start with metadata that is a JSON array", ["session", "start", "--agent", "{agent}", "--workflow", "wf", "--metadata", "[1,2]"], 64, mentions: "metadata"),
        RefusedCommand("update with metadata that is a JSON string", ["session", "update", "{active}", "--metadata", #""text""#], 64, mentions: "metadata"),
        RefusedCommand("start with metadata over 64 KiB", ["session", "start", "--agent", "{agent}", "--workflow", "wf", "--metadata", oversizedMetadata], 64, mentions: "metadata"),
        RefusedCommand("update with metadata over 64 KiB", ["session", "update", "{active}", "--metadata", oversizedMetadata], 64, mentions: "metadata"),
        RefusedCommand("start with an empty agent id", ["session", "start", "--agent", "", "--workflow", "wf"], 64),
        RefusedCommand("update with an unknown status", ["session", "update", "{active}", "--status", "sleeping"], 64, mentions: "sleeping"),
        RefusedCommand("update to expired", ["session", "update", "{active}", "--status", "expired"], 64),
        RefusedCommand("end with a status that does not end", ["session", "end", "{active}", "--status", "paused"], 64),
        RefusedCommand("update naming no change", ["session", "update", "{active}"], 64),
        RefusedCommand("list with limit 0", ["session", "list", "--agent", "{agent}", "--limit", "0"], 64),
        RefusedCommand("unknown subcommand", ["session", "frobnicate"], 64),
        RefusedCommand("unknown command", ["frobnicate"], 64),
        RefusedCommand("missing argument", ["session", "get"], 64),
        RefusedCommand("missing option", ["session", "start", "--agent", "{agent}"], 64),
        RefusedCommand("unknown option", ["session", "get", "{active}", "--colour", "blue"], 64),
        RefusedCommand("bad log level", ["agent", "list", "--log-level", "loud"], 64),
        RefusedCommand("worker with concurrency 0", ["worker", "--concurrency", "0"], 64),
        RefusedCommand("watch with a bad session id", ["watch", "--session", "nope"], 64),
        // 1: refused by the data.
        RefusedCommand("start for an unknown agent", ["session", "start", "--agent", "nobody", "--workflow", "wf"], 1, mentions: "nobody"),
        RefusedCommand("remove an unknown agent", ["agent", "remove", "nobody"], 1),
        RefusedCommand("get a missing session", ["session", "get", "{missing}"], 1, mentions: "not found"),
        RefusedCommand("update a missing session", ["session", "update", "{missing}", "--status", "paused"], 1),
        RefusedCommand("end a missing session", ["session", "end", "{missing}"], 1),
        RefusedCommand("delete a missing session", ["session", "delete", "{missing}"], 1),
        RefusedCommand("end a completed session", ["session", "end", "{completed}"], 1, mentions: "completed"),
        RefusedCommand("reactivate a completed session", ["session", "update", "{completed}", "--status", "active"], 1),
        RefusedCommand("patch a completed session", ["session", "update", "{completed}", "--metadata", #"{"a":1}"#], 1),
        RefusedCommand("update at the wrong version", ["session", "update", "{active}", "--metadata", "{}", "--expect-version", "7"], 1, mentions: "version"),
    ]
}

/// Exit codes, the one-line `error: ` message with empty stdout, and no change
/// in Redis for every refused command.
@Suite struct ExitCodeTests {
    @Test(arguments: RefusedCommand.all)
    func refusedCommandExitsWithItsCodeOneErrorLineAndNoChange(_ command: RefusedCommand) async throws {
        let cli = try await CLIFixture.make("refused")
        let lifecycle = cli.lifecycle()
        let (active, completed) = try await onOwnThread {
            try lifecycle.agents.register(["agent-1"])
            let active = try lifecycle.startSession(agentID: "agent-1", workflowID: "wf", metadata: ["a": 1])
            let completed = try lifecycle.startSession(agentID: "agent-1", workflowID: "wf")
            _ = try lifecycle.endSession(completed.id, status: .completed)
            return (active.id.text, completed.id.text)
        }
        let substitutions = ["{agent}": "agent-1", "{active}": active, "{completed}": completed, "{missing}": SessionID.random().text]
        let arguments = command.arguments.map { substitutions[$0] ?? $0 }

        let before = try await cli.keyspaceDump()
        let result = try await cli.run(arguments)
        let after = try await cli.keyspaceDump()

        #expect(result.exitCode == command.exitCode, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.errorLines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("error: "))
        #expect(result.stderr.hasSuffix("\n"))
        if let mentions = command.mentions {
            #expect(result.stderr.contains(mentions))
        }
        #expect(!before.isEmpty)
        #expect(after == before, "Redis changed")
    }

    @Test func corruptSessionIsReportedNamingItsKeyAndFieldWithExit1AndLeftAlone() async throws {
        let cli = try await CLIFixture.make("corrupt")
        let id = SessionID.random().text
        let key = cli.sessionKey(id)
        _ = try await cli.redis { redis in
            try redis.send(
                "HSET", key, "session_id", id, "agent_id", "agent-1", "workflow_id", "wf", "status", "active",
                "start_time", "2026-11-25T12:00:00.123Z", "last_updated_time", "2026-11-25T12:00:00.123Z",
                "metadata", "{}", "version", "not-a-number")
        }
        let before = try await cli.keyspaceDump()
        for arguments in [["session", "get", id], ["session", "update", id, "--status", "paused"], ["session", "end", id]] {
            let result = try await cli.run(arguments)
            #expect(result.exitCode == 1, "\(arguments): \(result)")
            #expect(result.stdout.isEmpty)
            #expect(result.errorLines.count == 1)
            #expect(result.stderr.hasPrefix("error: "))
            #expect(result.stderr.contains("corrupt"))
            #expect(result.stderr.contains(key))
            #expect(result.stderr.contains("version"))
        }
        #expect(try await cli.keyspaceDump() == before)
    }

    @Test func invalidRedisURLExits64WithoutEchoingThePassword() async throws {
        for url in ["http://127.0.0.1:6379", "redis://:hunter2-url@127.0.0.1:notaport/0", "redis://:hunter2-url@127.0.0.1:6379/db"] {
            let result = try await runOpscore(["agent", "list", "--redis-url", url, "--format", "json"])
            #expect(result.exitCode == 64, "\(url): \(result)")
            #expect(result.stdout.isEmpty)
            #expect(result.errorLines.count == 1)
            #expect(result.stderr.hasPrefix("error: "))
            #expect(!result.stderr.contains("hunter2-url"))
        }
    }

    @Test func unreachableRedisExits69WithOneErrorLine() async throws {
        let port = try closedPort()
        let url = "redis://127.0.0.1:\(port)/0"
        let namespace = RedisTestServer.uniquePrefix("down")
        let commands: [[String]] = [
            ["agent", "list"],
            ["agent", "register", "a"],
            ["session", "get", SessionID.random().text],
            ["session", "start", "--agent", "a", "--workflow", "wf"],
            ["session", "end", SessionID.random().text],
        ]
        for arguments in commands {
            let result = try await runOpscore(arguments + ["--redis-url", url, "--namespace", namespace, "--format", "json"])
            #expect(result.exitCode == 69, "\(arguments): \(result)")
            #expect(result.stdout.isEmpty)
            #expect(result.errorLines.count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("error: "))
        }

        // watch gives up when it never got a subscription.
        let watch = try await runOpscore(["watch", "--redis-url", url, "--namespace", namespace, "--format", "json"], timeout: 15)
        #expect(watch.exitCode == 69, "\(watch)")
        #expect(watch.stdout.isEmpty)
        #expect(watch.errorLines.last?.hasPrefix("error: ") == true, "\(watch.stderr)")
    }

    @Test func refusedCredentialsExit77AndThePasswordAppearsNowhere() async throws {
        let secret = "s3cret-\(UUID().uuidString.prefix(8))"
        let server = try await startPrivateServer(.init(password: secret))
        defer { server.stop() }
        let namespace = RedisTestServer.uniquePrefix("auth")
        let wrong = "wr0ng-\(UUID().uuidString.prefix(8))"
        let before = try await onOwnThread { try RedisProbe(server).dump(pattern: "*") }

        let urls = [
            "redis://:\(wrong)@127.0.0.1:\(server.port)/0",
            "redis://default:\(wrong)@127.0.0.1:\(server.port)/0",
            "redis://127.0.0.1:\(server.port)/0",
        ]
        for url in urls {
            for arguments in [["agent", "register", "a"], ["session", "get", SessionID.random().text], ["session", "start", "--agent", "a", "--workflow", "wf"], ["watch"]] {
                let result = try await runOpscore(arguments + ["--redis-url", url, "--namespace", namespace, "--format", "json"], timeout: 15)
                #expect(result.exitCode == 77, "\(arguments) with \(url): \(result)")
                #expect(result.stdout.isEmpty)
                #expect(result.errorLines.last?.hasPrefix("error: ") == true, "\(result.stderr)")
                #expect(!result.stderr.contains(wrong) && !result.stderr.contains(secret))
            }
        }
        // The environment variable form hides the password just as well.
        let fromEnvironment = try await runOpscore(
            ["session", "get", SessionID.random().text, "--format", "json"],
            environment: childEnvironment(["OPSCORE_REDIS_URL": urls[0], "OPSCORE_NAMESPACE": namespace]))
        #expect(fromEnvironment.exitCode == 77)
        #expect(!fromEnvironment.stderr.contains(wrong))

        let after = try await onOwnThread { try RedisProbe(server).dump(pattern: "*") }
        #expect(after == before)

        // The right password works.
        let right = try await runOpscore(["agent", "register", "a", "--redis-url", "redis://:\(secret)@127.0.0.1:\(server.port)/0", "--namespace", namespace, "--format", "json"])
        #expect(right.exitCode == 0, "\(right)")
        #expect(!right.stdout.contains(secret) && !right.stderr.contains(secret))
    }

    @Test func helpExitsZeroAndDoesNotPrintAPasswordFromTheEnvironment() async throws {
        let result = try await runOpscore(["session", "start", "--help"], environment: childEnvironment(["OPSCORE_REDIS_URL": "redis://:hunter2-help@127.0.0.1:1/0"]))
        #expect(result.exitCode == 0)
        #expect(result.stdout.contains("--agent"))
        #expect(!result.stdout.contains("hunter2-help") && !result.stderr.contains("hunter2-help"))
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, read, closed).
func closedPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw TestServerError("socket failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestServerError("bind failed") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else { throw TestServerError("getsockname failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
