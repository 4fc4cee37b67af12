import OpsCore
import RedisTestSupport
import Testing

/// `--redis-url`, `--namespace`, `--format`, `--log-level`: before or after the
/// command, and their `OPSCORE_*` environment fallbacks.
@Suite struct GlobalOptionTests {
    @Test func globalOptionsWrittenBeforeTheCommandAreHonoured() async throws {
        let cli = try await CLIFixture.make("leading")
        try await cli.register("agent-1")
        let started = try await cli.start(agent: "agent-1")
        let id = started.string("session_id")

        let spaced = try await runOpscore([
            "--redis-url", cli.redisURL, "--namespace", cli.namespace, "--format", "json", "session", "get", id,
        ])
        #expect(spaced.exitCode == 0)
        #expect(spaced.stderr.isEmpty)
        #expect(try spaced.lines.map { try JSONObject(line: $0).fields } == [started.fields])

        let joined = try await runOpscore([
            "--redis-url=\(cli.redisURL)", "--namespace=\(cli.namespace)", "--format=json", "agent", "list",
        ])
        #expect(joined.exitCode == 0)
        #expect(joined.lines == [#"{"agent_id":"agent-1"}"#])

        // Mixed: some before the command, some after it.
        let mixed = try await runOpscore([
            "--namespace", cli.namespace, "session", "get", id, "--redis-url", cli.redisURL, "--format", "json",
        ])
        #expect(mixed.exitCode == 0)
        #expect(try mixed.lines.map { try JSONObject(line: $0).fields } == [started.fields])
    }

    @Test func environmentVariablesAreHonouredWhenFlagsAreAbsentAndFlagsWinOverThem() async throws {
        let cli = try await CLIFixture.make("env")
        let environment = childEnvironment(["OPSCORE_REDIS_URL": cli.redisURL, "OPSCORE_NAMESPACE": cli.namespace])

        let registered = try await runOpscore(["--format", "json", "agent", "register", "from-env"], environment: environment)
        #expect(registered.exitCode == 0)
        #expect(registered.stderr.isEmpty)
        let agentsKey = cli.agentsKey
        #expect(try await cli.redis { try $0.smembers(agentsKey) } == ["from-env"])

        // A --namespace flag beats OPSCORE_NAMESPACE.
        let other = try await CLIFixture.make("env-flag")
        let flagged = try await runOpscore(
            ["agent", "register", "from-flag", "--namespace", other.namespace, "--format", "json"], environment: environment)
        #expect(flagged.exitCode == 0)
        let otherAgentsKey = other.agentsKey
        #expect(try await cli.redis { try $0.smembers(otherAgentsKey) } == ["from-flag"])
        #expect(try await cli.redis { try $0.smembers(agentsKey) } == ["from-env"])

        // OPSCORE_LOG_LEVEL is read too: a bad value is bad usage.
        let badLevel = try await runOpscore(
            ["agent", "list", "--format", "json"], environment: environment.merging(["OPSCORE_LOG_LEVEL": "loud"]) { $1 })
        #expect(badLevel.exitCode == 64)
        #expect(badLevel.stdout.isEmpty)
        #expect(badLevel.errorLines.count == 1)
        #expect(badLevel.stderr.hasPrefix("error: "))
    }

    @Test func outputIsJSONByDefaultWhenStdoutIsNotATerminalAndTextWhenAsked() async throws {
        let cli = try await CLIFixture.make("format")
        try await cli.register("agent-1")
        let started = try await cli.start(agent: "agent-1", metadata: #"{"k":"v"}"#)
        let id = started.string("session_id")

        let implicit = try await runOpscore(["session", "get", id, "--redis-url", cli.redisURL, "--namespace", cli.namespace])
        #expect(implicit.exitCode == 0)
        #expect(try implicit.lines.map { try JSONObject(line: $0).fields } == [started.fields])

        let text = try await runOpscore(["session", "get", id, "--redis-url", cli.redisURL, "--namespace", cli.namespace, "--format", "text"])
        #expect(text.exitCode == 0)
        #expect(text.stderr.isEmpty)
        #expect(text.lines.contains("session_id         \(id)"))
        #expect(text.lines.contains("status             active"))
        #expect(text.lines.contains(#"metadata           {"k":"v"}"#))
        #expect(text.lines.contains("version            1"))
    }

    @Test func redisURLFormsReachTheNamedEndpointAndDatabase() async throws {
        let server = try await startPrivateServer(.init(unixSocket: true))
        defer { server.stop() }
        let namespace = RedisTestServer.uniquePrefix("urls")
        let forms = [
            ("redis://127.0.0.1:\(server.port)/2", 2, "tcp-db2"),
            ("redis://127.0.0.1:\(server.port)", 0, "tcp-default-db"),
            ("unix://\(server.socketPath)", 0, "unix-db0"),
            ("unix://\(server.socketPath)?db=3", 3, "unix-db3"),
        ]
        for (url, _, agent) in forms {
            let result = try await runOpscore(["agent", "register", agent, "--redis-url", url, "--namespace", namespace, "--format", "json"])
            #expect(result.exitCode == 0, "\(url): \(result)")
        }
        let members = try await onOwnThread {
            let redis = try RedisProbe(server)
            return try [0, 2, 3].map { database in
                try redis.send("SELECT", database)
                return try redis.smembers("\(namespace):{0}:agents")
            }
        }
        #expect(members == [["tcp-default-db", "unix-db0"], ["tcp-db2"], ["unix-db3"]])
    }
}
