import Foundation
import Redis
import RedisTestSupport
import Testing

@Suite struct RedisTransactionTests {
    @Test func watchConflictFromAnotherConnectionIsRetriedAndCommits() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        let outcome = try await onOwnThread { () -> (Int, Int64?) in
            let connection = try server.connect()
            let intruder = try server.connect()
            try connection.send("SET", key, 10)
            var calls = 0
            let result = try connection.transaction(watching: [Array(key.utf8)], reading: [RedisCommand("GET", key)]) { replies in
                calls += 1
                let current = replies[0].integer ?? 0
                if calls == 1 { try intruder.send("INCRBY", key, 5) }  // changes the watched key
                return .commit([RedisCommand("SET", key, current + 1)]) { _ in current + 1 }
            }
            #expect(result.value == 16)
            return (result.attempts, try connection.send("GET", key).integer)
        }
        #expect(outcome.0 == 2)
        #expect(outcome.1 == 16)
    }

    @Test func exhaustedRetriesReportAConflict() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        let error = try await onOwnThread { () -> RedisError? in
            let connection = try server.connect()
            let intruder = try server.connect()
            do {
                _ = try connection.transaction(
                    watching: [Array(key.utf8)], reading: [],
                    retry: RedisRetryPolicy(maxAttempts: 3, baseDelay: .microseconds(10))
                ) { _ in
                    try intruder.send("INCR", key)
                    return .commit([RedisCommand("SET", key, "mine")]) { _ in () }
                }
                return nil
            } catch let error as RedisError {
                #expect(try connection.send("GET", key).integer == 3)
                return error
            }
        }
        #expect(error?.kind == .transactionConflict)
    }

    @Test func aCommandFailingInsideExecIsReportedAsPartiallyAppliedNamingCommandAndKey() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            try connection.send("SET", key, "text")
            var attempts = 0
            do {
                _ = try connection.transaction(watching: [Array(key.utf8)], reading: []) { _ in
                    attempts += 1
                    return .commit([RedisCommand("SET", key + ":other", "x"), RedisCommand("INCR", key)]) { _ in () }
                }
                Issue.record("INCR on text should fail inside EXEC")
            } catch let error as RedisError {
                #expect(error.kind == .partiallyApplied)
                #expect(error.failedCommand == "INCR")
                #expect(error.failedKey == key)
                #expect(error.serverError?.code == "ERR")
                #expect(error.message.contains("INCR on key '\(key)'"))
            }
            #expect(attempts == 1, "a partly applied transaction is never retried")
            // Redis ran the other command: EXEC is not a rollback.
            #expect(try connection.send("GET", key + ":other").text == "x")
            #expect(try connection.send("PING") == .status("PONG"))
        }
    }

    @Test func aRefusedMultiLetsNoWriteThroughAndTheConnectionIsNotReused() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix("nomulti")
        let user = RedisTestServer.uniquePrefix("user")
        try await onOwnThread {
            let admin = try server.connect()
            try admin.send("ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-multi")
            defer { _ = try? admin.send("ACL", "DELUSER", user) }
            try admin.send("SET", key, "before")
            var configuration = server.configuration
            configuration.username = user
            configuration.password = "pw"
            let pool = RedisConnectionPool(configuration: configuration, size: 1)
            let firstClient = try pool.withConnection { try $0.send("CLIENT", "ID").integer }
            do {
                try pool.withConnection { connection in
                    _ = try connection.transaction(watching: [Array(key.utf8)], reading: [RedisCommand("GET", key)]) { _ in
                        .commit([RedisCommand("SET", key, "written outside MULTI")]) { _ in () }
                    }
                }
                Issue.record("MULTI must be refused for this user")
            } catch let error as RedisError {
                #expect(error.kind == .permissionDenied)
                #expect(error.message.contains("MULTI"))
            }
            #expect(try admin.send("GET", key).text == "before")
            // The connection that saw the refusal was closed, not lent again.
            let nextClient = try pool.withConnection { try $0.send("CLIENT", "ID").integer }
            #expect(nextClient != firstClient)
        }
    }

    @Test func aTransactionWatchingNoKeyIsAPlainMultiExecThatIsNeverAborted() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            let intruder = try server.connect()
            let outcome = try connection.transaction(watching: [], reading: [RedisCommand("GET", key)]) { replies in
                try intruder.send("SET", key, "meanwhile")  // would abort a WATCH of the key
                return .commit([RedisCommand("APPEND", key, "+mine")]) { results in results[0].integer }
            }
            #expect(outcome.attempts == 1)
            #expect(outcome.value == 14)
            #expect(try connection.send("GET", key).text == "meanwhile+mine")
        }
    }

    @Test func decidingToWriteNothingDiscardsTheOpenMulti() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            let done = try connection.transaction(watching: [Array(key.utf8)], reading: [RedisCommand("EXISTS", key)]) { replies in
                .done(replies[0].integer)
            }
            #expect(done.value == 0)
            // Were MULTI still open, this would answer QUEUED and run at some later EXEC.
            #expect(try connection.send("SET", key, "now") == .status("OK"))
            #expect(try connection.send("GET", key).text == "now")
            #expect(!connection.isBroken)
        }
    }

    @Test func refusedQueueingDiscardsTheWholeTransaction() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            do {
                _ = try connection.transaction(watching: [Array(key.utf8)], reading: []) { _ in
                    .commit([RedisCommand("SET", key, "x"), RedisCommand("NOSUCHCOMMAND")]) { _ in () }
                }
                Issue.record("an unknown command should be refused at queueing")
            } catch let error as RedisError {
                #expect(error.kind == .transactionFailed)
            }
            #expect(try connection.send("EXISTS", key) == .integer(0))
        }
    }

    @Test func earlyExitUnwatchesSoTheNextTransactionIsNotPoisoned() async throws {
        let server = try RedisTestServer.shared()
        let key = RedisTestServer.uniquePrefix()
        try await onOwnThread {
            let connection = try server.connect()
            let intruder = try server.connect()
            struct Refused: Error {}
            #expect(throws: Refused.self) {
                _ = try connection.transaction(watching: [Array(key.utf8)], reading: []) { _ -> RedisTransactionStep<Void> in
                    throw Refused()
                }
            }
            try intruder.send("SET", key, "changed")
            // Were the key still watched, this EXEC would abort.
            try connection.send("MULTI")
            try connection.send("SET", key + ":2", "y")
            #expect(try connection.send("EXEC") == .array([.status("OK")]))
            let done = try connection.transaction(watching: [Array(key.utf8)], reading: [RedisCommand("GET", key)]) { replies in
                .done(replies[0].text)
            }
            #expect(done.value == "changed")
        }
    }
}
