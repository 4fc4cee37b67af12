import Foundation
import Redis
import RedisTestSupport
import Testing

@Suite struct RedisConnectionTests {
    @Test func returnsEveryReplyTypeFromARealServer() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            #expect(try connection.send("SET", key, "v") == .status("OK"))
            #expect(try connection.send("GET", key) == .string(Array("v".utf8)))
            #expect(try connection.send("INCR", key + ":n") == .integer(1))
            #expect(try connection.send("GET", key + ":missing") == .null)
            #expect(try connection.send("RPUSH", key + ":l", "a", "b") == .integer(2))
            #expect(try connection.send("LRANGE", key + ":l", 0, -1) == .array([.string([97]), .string([98])]))
            let replies = try connection.pipeline([RedisCommand("LPUSH", key, "x")])
            guard case .error(let serverError) = replies[0] else {
                Issue.record("expected an error reply, got \(replies)")
                return
            }
            #expect(serverError.code == "WRONGTYPE")
            #expect(throws: RedisError.self) { try connection.send("LPUSH", key, "x") }
            #expect(!connection.isBroken)
        }
    }

    @Test func storesBinaryValuesExactly() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            let awkward: [UInt8] = [0, 13, 10, 0xFF, 0xC3, 0x28, 0, 36, 13, 10]
            try connection.send("SET", Array(key.utf8) + [0, 13, 10], awkward)
            #expect(try connection.send("GET", Array(key.utf8) + [0, 13, 10]) == .string(awkward))
            var big = [UInt8](repeating: 0, count: 1 << 20)
            for index in big.indices { big[index] = UInt8(truncatingIfNeeded: index &* 31) }
            try connection.send("SET", key + ":big", big)
            #expect(try connection.send("GET", key + ":big") == .string(big))
            #expect(try connection.send("STRLEN", key + ":big") == .integer(1 << 20))
        }
    }

    @Test func pipelineRepliesComeBackInOrder() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            let commands = (1...500).map { RedisCommand("RPUSH", key, $0) }
            let replies = try connection.pipeline(commands)
            #expect(replies == (1...500).map { .integer(Int64($0)) })
            let items = try connection.send("LRANGE", key, 0, -1).array?.compactMap(\.integer)
            #expect(items == (1...500).map(Int64.init))
        }
    }

    @Test func refusedConnectionIsAConnectionError() async throws {
        let error = try await onOwnThread { () -> RedisError? in
            do {
                _ = try RedisConnection(configuration: RedisConfiguration(endpoint: .tcp(host: "127.0.0.1", port: 1)))
                return nil
            } catch let error as RedisError { return error }
        }
        #expect(error?.kind == .connectionFailed)
    }

    @Test func connectsOverAUnixSocketToTheSelectedDatabase() async throws {
        let server = try RedisTestServer.start(options: .init(unixSocket: true))
        defer { server.stop() }
        try await onOwnThread {
            let connection = try RedisConnection(configuration: RedisConfiguration(url: "unix://\(server.socketPath)?db=5"))
            try connection.send("SET", "where", "db5")
            let tcp = try server.connect()
            #expect(try tcp.send("GET", "where") == .null)
            try tcp.send("SELECT", 5)
            #expect(try tcp.send("GET", "where").text == "db5")
        }
    }

    @Test func commandTimeoutBreaksTheConnectionWithATimeoutError() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try await onOwnThread {
            var configuration = server.configuration
            configuration.commandTimeout = .milliseconds(200)
            let connection = try RedisConnection(configuration: configuration)
            do {
                try connection.send("DEBUG", "SLEEP", "1")
                Issue.record("DEBUG SLEEP 1 should have timed out")
            } catch let error as RedisError {
                #expect(error.kind == .timeout)
            }
            #expect(connection.isBroken)
            #expect(throws: RedisError.self) { try connection.send("PING") }
        }
    }
}
