import Testing

/// `migrate` has nothing to move on a Redis Cluster (layout 1 never ran on one) and refuses a cluster URL at once.
@Suite struct ClusterRefusalTests {
    @Test(arguments: [["migrate"]])
    func migrateOnAClusterExits64WithOneErrorLine(command: [String]) async throws {
        let result = try await runOpscore(["--redis-url", "redis-cluster://127.0.0.1:1"] + command)
        #expect(result.exitCode == 64)
        #expect(result.errorLines.count == 1)
        #expect(result.errorLines.first?.hasPrefix("error: `\(command[0])` does not run on a Redis Cluster") == true)
        #expect(result.stdout.isEmpty)
    }
}
