@testable import Redis
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

/// Connections read replies with OpsCore's own RESP reader; hiredis's reader is
/// the reference it must agree with, whole or split anywhere.
@Suite struct RedisReplyReaderTests {
    private static func randomReply(depth: Int, _ generator: inout SystemRandomNumberGenerator) -> RedisReply {
        switch Int.random(in: 0...(depth < 4 ? 6 : 4), using: &generator) {
        case 0: return .status(String(repeating: "s", count: Int.random(in: 0...12, using: &generator)))
        case 1: return .error(RedisServerError(code: "ERR", message: "bad \(Int.random(in: 0...99, using: &generator))"))
        case 2: return .integer(Int64.random(in: Int64.min + 1...Int64.max, using: &generator))
        case 3: return .null
        case 4:
            let size = [0, 1, 5, 200, 17_000].randomElement(using: &generator)!
            var bytes: [UInt8] = []
            for _ in 0..<size { bytes.append(UInt8.random(in: 0...255, using: &generator)) }
            return .string(bytes)
        default:
            var elements: [RedisReply] = []
            for _ in 0..<Int.random(in: 0...5, using: &generator) { elements.append(randomReply(depth: depth + 1, &generator)) }
            return .array(elements)
        }
    }

    private static func resp(_ reply: RedisReply) -> [UInt8] {
        switch reply {
        case .status(let text): return Array("+\(text)\r\n".utf8)
        case .error(let error): return Array("-\(error.code) \(error.message)\r\n".utf8)
        case .integer(let value): return Array(":\(value)\r\n".utf8)
        case .null: return Array("$-1\r\n".utf8)
        case .string(let bytes): return Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
        case .array(let elements): return Array("*\(elements.count)\r\n".utf8) + elements.flatMap(resp)
        }
    }

    @Test func randomRepliesDecodeAsHiredisDecodesThem() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var replies: [RedisReply] = []
            for _ in 0..<Int.random(in: 1...4, using: &generator) { replies.append(Self.randomReply(depth: 0, &generator)) }
            let bytes = replies.flatMap(Self.resp)
            let decoded = try RedisReplyDecoder.decode(resp: bytes)
            #expect(decoded == replies)
            #expect(decoded == (try RedisReplyDecoder.hiredisDecode(resp: bytes)))
        }
    }

    @Test func aReplyLentAsBytesIsTheSameReplyAndItsBulkStringsPointIntoIt() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let reply = Self.randomReply(depth: 0, &generator)
            var reader = RedisReplyReader()
            reader.feed(Self.resp(reply) + Array(":7\r\n".utf8))
            var lent: RedisReply?
            var strings: [[UInt8]?]?
            #expect(try reader.nextBytes { bytes in
                lent = bytes.reply
                strings = bytes.bulkStrings.map { $0.map { $0.map { Array($0) } } }
            })
            #expect(lent == reply)
            // Only an array of bulk strings (and nulls) has them; they are its elements' bytes.
            if case .array(let elements) = reply, elements.allSatisfy({ if case .string = $0 { true } else { $0 == .null } }) {
                #expect(strings == elements.map(\.bytes))
            } else {
                #expect(strings == nil)
            }
            #expect(try reader.next() == .integer(7))
        }
        var reader = RedisReplyReader()
        reader.feed(Array("*2\r\n$1\r\na\r\n".utf8))
        #expect(try reader.nextBytes { _ in Issue.record("an incomplete reply was lent") } == false)
    }

    @Test func aHashReplySplitAnywhereIsLentOnlyOnceWhole() throws {
        let fields: [[UInt8]] = [Array("session_id".utf8), Array("k\r\n$3\r\n".utf8), Array("metadata".utf8), []]
        let bytes = Array("*5\r\n".utf8) + fields.flatMap { Array("$\($0.count)\r\n".utf8) + $0 + [13, 10] } + Array("$-1\r\n:7\r\n".utf8)
        for split in 0...bytes.count {
            var reader = RedisReplyReader()
            var lent: [[UInt8]?] = []
            let take = { (bytes: RedisReplyBytes) in lent += bytes.bulkStrings?.map { $0.map { Array($0) } } ?? [] }
            reader.feed(Array(bytes[..<split]))
            while try reader.nextBytes(take) {}
            reader.feed(Array(bytes[split...]))
            while try reader.nextBytes(take) {}
            #expect(lent == fields.map { $0 } + [nil], "split at \(split)")
        }
    }

    @Test func aReplySplitAnywhereIsReturnedOnlyOnceWhole() throws {
        let reply = RedisReply.array([.string(Array("k\r\n".utf8)), .array([.integer(-12), .status("OK"), .null]), .string([])])
        let bytes = Self.resp(reply) + Array(":7\r\n".utf8)
        for split in 0...bytes.count {
            var reader = RedisReplyReader()
            reader.feed(Array(bytes[..<split]))
            var got: [RedisReply] = []
            while let next = try reader.next() { got.append(next) }
            reader.feed(Array(bytes[split...]))
            while let next = try reader.next() { got.append(next) }
            #expect(got == [reply, .integer(7)], "split at \(split)")
        }
    }

    @Test(arguments: [
        "?x\r\n", ":12a\r\n", ":\r\n", ":99999999999999999999\r\n", "$-2\r\n", "$3\r\nabcd\r\n", "*-2\r\n",
        "$536870913\r\n", String(repeating: "*1\r\n", count: 17) + ":1\r\n",
        "*2\r\n$1\r\na\r\n$-2\r\n", "*1\r\n$1\r\nab\r\n", "*1\r\n$536870913\r\n", "*1\r\n$x\r\n",
    ])
    func bytesThatAreNotRESPAreAProtocolError(text: String) {
        var reader = RedisReplyReader()
        reader.feed(Array(text.utf8))
        #expect(throws: RedisError.self, "lent as bytes") { _ = try reader.nextBytes { _ in } }
        #expect(throws: RedisError.self) { try RedisReplyDecoder.decode(resp: Array(text.utf8)) }
        do {
            _ = try RedisReplyDecoder.decode(resp: Array(text.utf8))
        } catch {
            #expect(error.kind == .protocolError)
        }
    }

    @Test func sixteenNestedArraysAreAccepted() throws {
        let text = String(repeating: "*1\r\n", count: 16) + ":1\r\n"
        var expected = RedisReply.integer(1)
        for _ in 0..<16 { expected = .array([expected]) }
        #expect(try RedisReplyDecoder.decode(resp: Array(text.utf8)) == [expected])
    }
}
