import Foundation
import OpsCore
import Redis
import RedisTestSupport
import Testing

/// The library example of the README, run as written against a real server.
@Suite struct ReadmeExampleTests {
    @Test func theReadmeLibraryExampleStartsAndPausesASession() async throws {
        let server = try RedisTestServer.shared()
        let namespace = RedisTestServer.uniquePrefix("readme")
        let url = server.configuration.url(redactingPassword: false)
        let paused = try await onOwnThread { () -> Session in
            // From the README, with the URL and namespace of the test server:
            let pool = RedisConnectionPool(configuration: try RedisConfiguration(url: url), size: 8)
            let sessions = try SessionLifecycle(pool: pool, namespace: namespace)
            try sessions.agents.register(["build-bot"])
            let session = try sessions.startSession(agentID: "build-bot", workflowID: "nightly", metadata: ["branch": "main"])
            return try sessions.updateSession(session.id, SessionUpdate(status: .paused, metadataPatch: ["step": 3]))
        }
        #expect(paused.status == .paused)
        #expect(paused.version == 2)
        #expect(paused.metadata == ["branch": "main", "step": 3])
    }
}

/// The README's async example, run as written (the README's block, with the test
/// server's URL and namespace in place of its literals, must appear verbatim below).
@Suite struct ReadmeAsyncExampleTests {
    @Test func theReadmeAsyncExampleRunsAsWritten() async throws {
        let server = try RedisTestServer.shared()
        let namespace = RedisTestServer.uniquePrefix("readme-async")
        let url = server.configuration.url(redactingPassword: false)
        // From the README:
        let pool = RedisConnectionPool(configuration: try RedisConfiguration(url: url), size: 8)
        let sessions = try SessionLifecycle(pool: pool, namespace: namespace)
        try await sessions.agents.register(["build-bot"])
        let runs = try await withThrowingTaskGroup(of: Session.self) { group in
            for run in 0..<4 {
                group.addTask { try await sessions.startSession(agentID: "build-bot", workflowID: "nightly", metadata: ["run": .integer(Int64(run))]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let done = try await sessions.endSession(runs[0].id, status: .completed)
        // End of the README's example.
        #expect(runs.count == 4)
        #expect(Set(runs.compactMap { $0.metadata["run"] }) == [0, 1, 2, 3])
        #expect(done.status == .completed)
    }

    @Test func theReadmeShowsExactlyTheExampleThisSuiteRuns() throws {
        let here = URL(fileURLWithPath: #filePath)
        let readme = try String(contentsOf: here.deletingLastPathComponent().appendingPathComponent("../../README.md").standardized, encoding: .utf8)
        let source = try String(contentsOf: here, encoding: .utf8)
        let block = try #require(readme.firstRange(of: "try await sessions.agents.register").map { match -> String in
            let start = readme[..<match.lowerBound].range(of: "```swift\n", options: .backwards)!.upperBound
            let end = readme[match.lowerBound...].range(of: "```")!.lowerBound
            return String(readme[start..<end])
        })
        let asTested = block
            .replacingOccurrences(of: "\"redis://127.0.0.1:6379/0\"", with: "url")
            .replacingOccurrences(of: "namespace: \"opscore\"", with: "namespace: namespace")
        let indented = asTested.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "        " + $0 }.joined(separator: "\n")
        #expect(source.contains(indented), "the README's async example differs from the one this suite runs")
    }
}
