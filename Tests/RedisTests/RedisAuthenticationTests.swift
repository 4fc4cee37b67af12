import Foundation
import Redis
import RedisTestSupport
import Testing

@Suite struct RedisAuthenticationTests {
    @Test func requirepassAcceptsTheRightPasswordAndRefusesAWrongOne() async throws {
        let server = try RedisTestServer.start(options: .init(password: "right-horse"))
        defer { server.stop() }
        try await onOwnThread {
            let connection = try server.connect()
            #expect(try connection.send("PING") == .status("PONG"))
            var wrong = server.configuration
            wrong.password = "wrong-battery"
            do {
                _ = try RedisConnection(configuration: wrong)
                Issue.record("a wrong password must be refused")
            } catch let error as RedisError {
                #expect(error.kind == .authenticationFailed)
                #expect(!"\(error)".contains("wrong-battery"))
            }
            var none = server.configuration
            none.password = nil
            let anonymous = try RedisConnection(configuration: none)
            do {
                try anonymous.send("GET", "x")
                Issue.record("no password must be refused")
            } catch let error as RedisError {
                #expect(error.kind == .authenticationFailed)
            }
        }
    }

    @Test func aclUserAuthenticatesAndIsLimitedToItsKeys() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        try await onOwnThread {
            let admin = try server.connect()
            try admin.send("ACL", "SETUSER", "ops", "on", ">ops-pass", "~ops:*", "&ops:*", "+get", "+set", "+ping")
            let user = try RedisConnection(configuration: RedisConfiguration(url: "redis://ops:ops-pass@127.0.0.1:\(server.port)/0"))
            try user.send("SET", "ops:a", "1")
            #expect(try user.send("GET", "ops:a").text == "1")
            do {
                try user.send("SET", "other:a", "1")
                Issue.record("a key outside ~ops:* must be refused")
            } catch let error as RedisError {
                #expect(error.kind == .permissionDenied)
                #expect(error.serverError?.code == "NOPERM")
            }
            do {
                _ = try RedisConnection(configuration: RedisConfiguration(url: "redis://ops:nope@127.0.0.1:\(server.port)/0"))
                Issue.record("a wrong ACL password must be refused")
            } catch let error as RedisError {
                #expect(error.kind == .authenticationFailed)
            }
        }
    }
}
