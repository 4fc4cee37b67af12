import Redis
import Testing

@Suite struct RedisReplyDecoderTests {
    private func decode(_ text: String) throws -> [RedisReply] {
        try RedisReplyDecoder.decode(resp: Array(text.utf8))
    }

    @Test func decodesEverySixReplyTypes() throws {
        let replies = try decode("+OK\r\n-WRONGTYPE wrong kind\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n*-1\r\n")
        #expect(replies == [
            .status("OK"),
            .error(RedisServerError(code: "WRONGTYPE", message: "wrong kind")),
            .integer(42),
            .string(Array("abc".utf8)),
            .null,
            .array([.integer(1), .null]),
        ])
    }

    @Test func keepsBinaryBytesOfBulkStrings() throws {
        let payload: [UInt8] = [0, 13, 10, 0xFF, 0xFE, 65]
        let resp = Array("$6\r\n".utf8) + payload + Array("\r\n".utf8)
        #expect(try RedisReplyDecoder.decode(resp: resp) == [.string(payload)])
    }

    @Test func decodesNestedArraysAndEmptyString() throws {
        #expect(try decode("*2\r\n*1\r\n$0\r\n\r\n*0\r\n") == [.array([.array([.string([])]), .array([])])])
    }

    @Test func stopsAtAnIncompleteReply() throws {
        #expect(try decode(":1\r\n$10\r\nabc") == [.integer(1)])
    }

    @Test func rejectsBytesThatAreNotRESP() {
        #expect(throws: RedisError.self) { try decode("?what\r\n") }
    }

    @Test func splitsServerErrorsIntoCodeAndMessage() {
        #expect(RedisServerError(reply: "NOPERM this user has no permissions") == RedisServerError(code: "NOPERM", message: "this user has no permissions"))
        #expect(RedisServerError(reply: "unknown thing").code == "ERR")
        #expect(RedisError(RedisServerError(reply: "WRONGPASS invalid username-password pair")).kind == .authenticationFailed)
        #expect(RedisError(RedisServerError(reply: "NOAUTH Authentication required.")).kind == .authenticationFailed)
        #expect(RedisError(RedisServerError(reply: "NOPERM no")).kind == .permissionDenied)
        #expect(RedisError(RedisServerError(reply: "WRONGTYPE x")).kind == .serverError)
    }
}
