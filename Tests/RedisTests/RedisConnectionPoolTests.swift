import Foundation
import Redis
import RedisTestSupport
import Testing

@Suite struct RedisConnectionPoolTests {
    @Test func eightThreadsShareAPoolOfFourWithoutMixingReplies() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        let pool = RedisConnectionPool(configuration: server.configuration, size: 4)
        let counts = try await onThreads(8) { thread in
            var matched = 0
            for round in 0..<250 {
                let value = "\(thread)-\(round)"
                let echoed = try pool.withConnection { connection in
                    try connection.pipeline([RedisCommand("SET", "\(key):\(thread)", value), RedisCommand("GET", "\(key):\(thread)")])
                }
                if echoed[1].text == value { matched += 1 }
                try pool.withConnection { try $0.send("INCR", key + ":total") }
            }
            return matched
        }
        #expect(counts == Array(repeating: 250, count: 8))
        let total = try await onOwnThread { try pool.withConnection { try $0.send("GET", key + ":total").integer } }
        #expect(total == 2000)
    }

    @Test func timedOutConnectionIsReplacedAndThePoolStaysHealthy() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        var configuration = server.configuration
        configuration.commandTimeout = .milliseconds(300)
        let pool = RedisConnectionPool(configuration: configuration, size: 2)
        try await onOwnThread {
            do {
                try pool.withConnection { try $0.send("DEBUG", "SLEEP", "1") }
                Issue.record("expected a timeout")
            } catch let error as RedisError {
                #expect(error.kind == .timeout)
            }
            // The server is still asleep for a moment; then every borrow works.
            usleep(900_000)
            for _ in 0..<10 {
                #expect(try pool.withConnection { try $0.send("PING") } == .status("PONG"))
            }
        }
    }

    @Test func serverKilledAndRestartedGivesErrorsWhileDownAndWorksAfter() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        let pool = RedisConnectionPool(configuration: server.configuration, size: 3)
        try await onOwnThread {
            for _ in 0..<3 { try pool.withConnection { try $0.send("SET", "k", "before") } }
            server.kill()
            for _ in 0..<3 {
                do {
                    try pool.withConnection { try $0.send("PING") }
                    Issue.record("PING must fail while the server is down")
                } catch let error as RedisError {
                    #expect(error.isConnectionError)
                }
            }
            try server.restart()
            // Idle connections died with the old server; the pool replaces them.
            for _ in 0..<6 {
                #expect(try pool.withConnection { try $0.send("PING") } == .status("PONG"))
            }
        }
    }

    /// Runs `body` with a pool of `size` whose connections were all opened (by
    /// `prime`) before the server was stopped and started again, so they are stale.
    private func withStalePool(size: Int, prime: RedisCommand, _ body: @escaping @Sendable (RedisConnectionPool) throws -> Void) async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        let pool = RedisConnectionPool(configuration: server.configuration, size: size)
        try await onOwnThread {
            // Nested borrows, so that `size` distinct connections are opened.
            func open(_ count: Int) throws {
                guard count > 0 else { return }
                try pool.withConnection { connection in
                    try connection.send(prime)
                    try open(count - 1)
                }
            }
            try open(size)
            server.stop()
            try server.restart()
            try body(pool)
        }
    }

    @Test func idleConnectionsBrokenByARestartAreRetriedTransparentlyForReads() async throws {
        try await withStalePool(size: 1, prime: RedisCommand("PING")) { pool throws in
            let replies = try pool.withConnection { try $0.pipeline([RedisCommand("PING")], readOnly: true) }
            #expect(replies == [.status("PONG")])
        }
    }

    @Test func aSingleReadSentWithSendIsRetriedOnAConnectionARestartBroke() async throws {
        try await withStalePool(size: 2, prime: RedisCommand("SADD", "agents", "a")) { pool throws in
            // Both pooled connections are stale; each read still succeeds the first time.
            for _ in 0..<3 {
                #expect(try pool.withConnection { try $0.send("SMEMBERS", "agents") } == .array([]))
            }
        }
    }

    @Test func aWriteIsNotRetriedOnAConnectionARestartBroke() async throws {
        try await withStalePool(size: 1, prime: RedisCommand("PING")) { pool throws in
            #expect(throws: RedisError.self) { try pool.withConnection { try $0.send("INCR", "counter") } }
            #expect(try pool.withConnection { try $0.send("GET", "counter") } == .null)
        }
    }

    @Test func closedPoolRefusesBorrows() async throws {
        let server = try RedisTestServer.shared()
        let pool = RedisConnectionPool(configuration: server.configuration, size: 1)
        try await onOwnThread {
            try pool.withConnection { try $0.send("PING") }
            pool.close()
            do {
                try pool.withConnection { try $0.send("PING") }
                Issue.record("a closed pool must refuse")
            } catch let error as RedisError {
                #expect(error.kind == .shutDown)
            }
        }
    }
}
