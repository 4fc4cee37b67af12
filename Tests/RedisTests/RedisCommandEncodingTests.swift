@testable import Redis
import Testing

/// Commands go out as RESP that OpsCore encodes itself; hiredis's own
/// `redisFormatCommandArgv` is the reference, byte for byte.
@Suite struct RedisCommandEncodingTests {
    private func encoded(_ command: RedisCommand) -> [UInt8] {
        var bytes: [UInt8] = []
        command.appendRESP(to: &bytes)
        return bytes
    }

    @Test func aCommandIsAnArrayOfBulkStringsWithTheirLengths() {
        #expect(encoded(RedisCommand("HSET", "k", "field", 42)) == Array("*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$5\r\nfield\r\n$2\r\n42\r\n".utf8))
    }

    @Test(arguments: [0, 7, -7, 10, 1_764_633_600_000, Int64.max, Int64.min])
    func anIntegerArgumentIsItsDecimalText(value: Int64) {
        #expect(RedisCommand("ZADD", value).arguments[1] == Array(String(value).utf8))
        #expect(RedisCommand("ZADD", Int(value)).arguments[1] == Array(String(value).utf8))
    }

    @Test func aStringArgumentIsItsUTF8WhereverTheStringKeepsIt() {
        let bridged = "caf\u{E9} \u{1F600}" + String(repeating: "x", count: 40)  // a native, non-ASCII, heap string
        let small = "caf\u{E9}"  // a small string, kept inline
        let fromSubstring = String("  spaced  ".dropFirst(2))
        for text in [bridged, small, fromSubstring, ""] {
            #expect(RedisCommand("SET", text).arguments[1] == Array(text.utf8))
        }
    }

    @Test func anyByteOfAnArgumentGoesThroughAsItIs() {
        let binary: [UInt8] = [0, 13, 10, 0x25, 0x73, 0xFF, 0xFE, 0x24, 0x2A]  // NUL, CR, LF, "%s", invalid UTF-8, "$*"
        let command = RedisCommand("SET", binary, [UInt8]())
        #expect(encoded(command) == Array("*3\r\n$3\r\nSET\r\n$9\r\n".utf8) + binary + Array("\r\n$0\r\n\r\n".utf8))
        #expect(encoded(command) == HiredisContext.hiredisFormatted(command))
    }

    @Test func randomCommandsEncodeExactlyAsHiredisFormatsThem() {
        var generator = SystemRandomNumberGenerator()
        let sizes = [0, 1, 9, 10, 99, 100, 1_000, 20_000]
        for round in 0..<150 {
            let count = Int.random(in: 0...12, using: &generator)
            let arguments: [[UInt8]] = (0..<count).map { _ in
                let size = sizes.randomElement(using: &generator)! + round % 3
                var state = UInt64.random(in: 1...UInt64.max, using: &generator)
                return (0..<size).map { _ in  // xorshift: every byte value, NUL, CR and LF included
                    state ^= state << 13
                    state ^= state >> 7
                    state ^= state << 17
                    return UInt8(truncatingIfNeeded: state)
                }
            }
            let command = RedisCommand(rawArguments: [Array("CMD\(round)".utf8)] + arguments)
            #expect(encoded(command) == HiredisContext.hiredisFormatted(command), "round \(round), \(count) arguments")
        }
    }

    @Test func aPipelineIsItsCommandsBackToBack() {
        var bytes: [UInt8] = []
        for command in [RedisCommand("MULTI"), RedisCommand("INCR", "n"), RedisCommand("EXEC")] { command.appendRESP(to: &bytes) }
        #expect(bytes == Array("*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nEXEC\r\n".utf8))
    }
}
