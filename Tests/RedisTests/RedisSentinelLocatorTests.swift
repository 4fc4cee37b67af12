@testable import Redis
import RedisTestSupport
import Testing

@Suite struct RedisSentinelLocatorTests {
    @Test func aRealSentinelNamesThePrimaryItMonitors() throws {
        let primary = try RedisTestServer.start()
        defer { primary.stop() }
        let sentinel = try RedisTestServer.start(options: .init(sentinelOf: .init(masterName: "locate", port: primary.port)))
        defer { sentinel.stop() }
        let locator = RedisSentinelLocator.shared(for: sentinelConfiguration(sentinel, masterName: "locate"))

        let found = try locator.primary()

        #expect(found.endpoint == .tcp(host: "127.0.0.1", port: primary.port))
        #expect(found.generation == locator.generation)
    }

    /// A sentinel asked just before a failover answers with the old primary; when the
    /// `+switch-master` of that failover arrives while the answer is on its way, the
    /// announced primary must win, or every new connection goes to the old primary.
    @Test func anAnswerAskedBeforeASwitchDoesNotReplaceTheAnnouncedPrimary() async throws {
        let primary = try RedisTestServer.start()
        defer { primary.stop() }
        let sentinel = try RedisTestServer.start(options: .init(sentinelOf: .init(masterName: "switching", port: primary.port)))
        defer { sentinel.stop() }
        let locator = RedisSentinelLocator.shared(for: sentinelConfiguration(sentinel, masterName: "switching"))
        let announced = RedisConfiguration.Endpoint.tcp(host: "127.0.0.1", port: primary.port + 1)

        sentinel.pause()  // the question is sent; the answer (the old primary) waits
        async let asking = onOwnThread { try locator.primary() }
        try await Task.sleep(for: .milliseconds(200))
        locator.switched(to: announced)
        try await Task.sleep(for: .milliseconds(100))
        sentinel.resume()
        let answer = try await asking

        #expect(answer.endpoint == announced)
        #expect(answer.generation == locator.generation)
        #expect(locator.knownPrimary == announced)
    }

    private func sentinelConfiguration(_ sentinel: RedisTestServer, masterName: String) -> RedisConfiguration {
        RedisConfiguration(
            endpoint: .tcp(host: "127.0.0.1", port: 1),
            sentinel: RedisSentinelSettings(sentinels: [.tcp(host: "127.0.0.1", port: sentinel.port)], masterName: masterName))
    }
}
