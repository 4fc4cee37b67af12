import Foundation
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

        // Timed on threads of their own (a busy cooperative pool would stretch the pause
        // past the 1 s the locator waits for a sentinel).
        let answer = try await onOwnThread {
            sentinel.pause()  // the question is sent; the answer (the old primary) waits
            let asking = AnswerOnThread { try locator.primary() }
            Thread.sleep(forTimeInterval: 0.2)
            locator.switched(to: announced)
            Thread.sleep(forTimeInterval: 0.1)
            sentinel.resume()
            return try asking.wait()
        }

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

/// `work` started at once on a thread of its own; ``wait()`` blocks for its result.
private final class AnswerOnThread<Value: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `result` is written by the thread before `done` is signalled and read only after.
    private var result: Result<Value, any Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () throws -> Value) {
        Thread.detachNewThread { [self] in
            result = Result(catching: work)
            done.signal()
        }
    }

    func wait() throws -> Value {
        done.wait()
        return try result!.get()
    }
}
