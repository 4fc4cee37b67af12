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
