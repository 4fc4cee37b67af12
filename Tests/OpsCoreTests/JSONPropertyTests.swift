import OpsCore
import Testing

/// SplitMix64: a small deterministic generator, so failures reproduce.
struct JSONTestSplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }
}

/// Builds random JSON values covering every case and the awkward corners
/// (escapes, non-ASCII, extreme numbers).
struct JSONTestValueGenerator {
    var random: JSONTestSplitMix64

    static let scalars: [Unicode.Scalar] = [
        "a", "b", "z", "A", "0", " ", "/", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{8}", "\u{C}", "\u{1F}",
        "\u{7F}", "é", "ß", "中", "😀", "\u{301}", "\u{2028}", "\u{FEFF}", "\u{FFFD}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}",
    ]

    mutating func string() -> String {
        let length = random.below(4) == 0 ? random.below(40) : random.below(6)
        var scalars = String.UnicodeScalarView()
        for _ in 0 ..< length {
            if random.below(3) == 0 {
                scalars.append(JSONTestValueGenerator.scalars[random.below(JSONTestValueGenerator.scalars.count)])
            } else {
                scalars.append(Unicode.Scalar(UInt8(0x20 + random.below(0x5F))))
            }
        }
        return String(scalars)
    }

    mutating func integer() -> Int64 {
        switch random.below(5) {
        case 0: return Int64(random.below(10))
        case 1: return Int64(random.below(2_000_001)) - 1_000_000
        case 2: return [Int64.min, .max, .min + 1, .max - 1, 0, -1][random.below(6)]
        default: return Int64(bitPattern: random.next())
        }
    }

    mutating func double() -> Double {
        switch random.below(5) {
        case 0:
            return Double(Int64(random.below(2_000_001)) - 1_000_000) / 100
        case 1:
            return Double(Int64(random.below(2_000_001)) - 1_000_000) // whole number
        case 2:
            return [0.0, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                    .leastNormalMagnitude, 0.1, 1e20, 1e21, Double(Int64(9_007_199_254_740_993)), 1e-7][random.below(11)]
        default:
            while true {
                let candidate = Double(bitPattern: random.next())
                if candidate.isFinite { return candidate }
            }
        }
    }

    mutating func value(depth: Int = 0) -> JSONValue {
        let kinds = depth >= 5 ? 5 : 7
        switch random.below(kinds) {
        case 0: return .null
        case 1: return .bool(random.below(2) == 0)
        case 2: return .integer(integer())
        case 3: return .double(double())
        case 4: return .string(string())
        case 5:
            return .array((0 ..< random.below(6)).map { _ in value(depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0 ..< random.below(6) {
                members[string()] = value(depth: depth + 1)
            }
            return .object(members)
        }
    }
}

/// Seeded property tests: round trips and robustness against mutated input.
struct JSONPropertyTests {
    @Test func randomValuesRoundTripThroughWriterAndParser() throws {
        var generator = JSONTestValueGenerator(random: JSONTestSplitMix64(seed: 0x5EED_1234))
        var mismatches = 0
        for _ in 0 ..< 2_000 {
            let value = generator.value()
            let bytes = value.jsonBytes
            let parsed = try JSONValue(parsing: bytes)
            let reparsedFromString = try JSONValue(parsing: value.jsonString)
            if parsed != value || reparsedFromString != value || parsed.jsonBytes != bytes {
                mismatches += 1
                Issue.record("round trip mismatch for \(value.jsonString)")
                if mismatches > 5 { break }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func randomDoublesRoundTripBitExactly() throws {
        var generator = JSONTestValueGenerator(random: JSONTestSplitMix64(seed: 42))
        for _ in 0 ..< 2_000 {
            let double = generator.double()
            let parsed = try JSONValue(parsing: JSONValue.double(double).jsonBytes)
            guard case .double(let back) = parsed, back.bitPattern == double.bitPattern else {
                Issue.record("double \(double) came back as \(parsed)")
                return
            }
        }
    }

    @Test func randomByteMutationsNeverCrashTheParser() throws {
        var generator = JSONTestValueGenerator(random: JSONTestSplitMix64(seed: 0xF022))
        let alphabet = Array(#"[]{}":,0123456789-+.eEtrufalsn\u "#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xA9, 0xED, 0xF0, 0xFF]
        var parsedCount = 0
        var rejectedCount = 0
        for _ in 0 ..< 1_000 {
            let original = generator.value().jsonBytes
            for _ in 0 ..< 10 {
                var bytes = original
                for _ in 0 ... generator.random.below(3) {
                    let position = bytes.isEmpty ? 0 : generator.random.below(bytes.count)
                    let byte = generator.random.below(2) == 0
                        ? UInt8(truncatingIfNeeded: generator.random.next())
                        : alphabet[generator.random.below(alphabet.count)]
                    switch generator.random.below(5) {
                    case 0 where !bytes.isEmpty: bytes[position] = byte
                    case 1: bytes.insert(byte, at: position)
                    case 2 where !bytes.isEmpty: bytes.remove(at: position)
                    case 3: bytes.removeLast(bytes.count - position)
                    default:
                        let end = min(bytes.count, position + generator.random.below(8))
                        bytes.insert(contentsOf: bytes[position ..< end], at: position)
                    }
                }
                do {
                    let value = try JSONValue(parsing: bytes)
                    parsedCount += 1
                    // Whatever parses must round-trip.
                    #expect(try JSONValue(parsing: value.jsonBytes) == value)
                } catch {
                    rejectedCount += 1
                    #expect(error.offset >= 0 && error.offset <= bytes.count)
                    #expect(!error.message.isEmpty)
                }
            }
        }
        #expect(parsedCount > 0)
        #expect(rejectedCount > 0)
    }

    @Test func randomGrammarSoupNeverCrashesTheParser() throws {
        var random = JSONTestSplitMix64(seed: 7)
        let alphabet = Array(#"[]{}":,0123456789-+.eEtrufalsn\ud83 "#.utf8)
        var parsedCount = 0
        for _ in 0 ..< 20_000 {
            let bytes = (0 ..< random.below(24)).map { _ in alphabet[random.below(alphabet.count)] }
            if let value = try? JSONValue(parsing: bytes) {
                parsedCount += 1
                #expect(try JSONValue(parsing: value.jsonBytes) == value)
            }
        }
        #expect(parsedCount > 0)
    }
}
