@testable import OpsCore
@testable import Redis
import Testing

/// Seeded fuzzing of the three parsers that take input from other programs: the
/// worker's request lines, metadata merge patches, and session hashes written by
/// other tools. Fixed seeds make every failure reproducible; each run is bounded
/// by its iteration count.
@Suite struct FuzzTests {
    private static let requestSeeds: [String] = [
        #"{"id":"7","op":"update","session_id":"0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d","status":"paused","metadata":{"step":3}}"#,
        #"{"id":1,"op":"start","agent_id":"a","workflow_id":"w","metadata":{"a":{"b":[1,2,null]}}}"#,
        #"{"id":"x","op":"end","session_id":"0B6F7C1E-3F0A-4A57-9A43-2F1F8F6F1C2D","status":"failed"}"#,
        #"{"op":"register_agent","agent_ids":["a","b\r\n"]}"#,
        #"{"id":null,"op":"get","session_id":"0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d"}"#,
        #"{"id":"d","op":"delete","session_id":"0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d","expected_version":4}"#,
    ]

    private static func mutate(_ input: [UInt8], _ random: inout JSONTestSplitMix64) -> [UInt8] {
        var bytes = input
        let interesting: [UInt8] = Array(#"{}[]":,\ 0-9eE.+-nulltrue"#.utf8) + [0, 0x7F, 0x80, 0xC3, 0xFF, 10, 13]
        for _ in 0...random.below(4) {
            let position = bytes.isEmpty ? 0 : random.below(bytes.count)
            switch random.below(6) {
            case 0 where !bytes.isEmpty: bytes[position] = UInt8(truncatingIfNeeded: random.next())
            case 1: bytes.insert(interesting[random.below(interesting.count)], at: position)
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3: bytes = Array(bytes.prefix(position))
            case 4:
                let other = Array(requestSeeds[random.below(requestSeeds.count)].utf8)
                let cut = random.below(other.count)
                bytes = Array(bytes.prefix(position)) + Array(other.suffix(from: cut))
            default:
                if !bytes.isEmpty { bytes[position] = interesting[random.below(interesting.count)] }
            }
        }
        return bytes
    }

    @Test func requestParserNeverCrashesAndRefusesWithAKnownCode() {
        var random = JSONTestSplitMix64(seed: 0xF0_2201)
        var parsed = 0
        var refused = 0
        for round in 0..<30_000 {
            let seed = Array(Self.requestSeeds[round % Self.requestSeeds.count].utf8)
            let input = Self.mutate(seed, &random)
            do {
                let request = try WorkerRequest(line: input)
                parsed += 1
                switch request.operation {
                case .update(let id, _), .end(let id, _), .get(let id), .delete(let id):
                    #expect(id.text == id.text.lowercased() && id.text.utf8.count == 36)
                case .registerAgent(let ids):
                    #expect(!ids.isEmpty)
                case .start:
                    break
                }
            } catch {
                refused += 1
                #expect(error.code == "invalid_request" || error.code == "invalid_input")
                #expect(!error.message.isEmpty)
            }
        }
        // Both paths were exercised.
        #expect(parsed > 100)
        #expect(refused > 100)
    }

    @Test func mergePatchIsIdempotentAndAlwaysYieldsAnObjectForObjectPatches() {
        var generator = JSONTestValueGenerator(random: JSONTestSplitMix64(seed: 0x3E76E))
        for _ in 0..<3_000 {
            let target = generator.value(depth: 2)
            var patchObject: [String: JSONValue] = [:]
            for _ in 0..<generator.random.below(6) {
                patchObject[generator.string()] = generator.random.below(4) == 0 ? .null : generator.value(depth: 3)
            }
            let patch = JSONValue.object(patchObject)
            let once = target.merging(patch: patch)
            guard case .object(let merged) = once else {
                Issue.record("merging an object patch gave a non-object")
                return
            }
            #expect(once.merging(patch: patch) == once)
            for (key, value) in patchObject {
                if value == .null {
                    #expect(merged[key] == nil)
                } else if case .object = value {
                    #expect(merged[key]?.objectValue != nil)
                } else {
                    #expect(merged[key] == value)
                }
            }
        }
    }

    @Test func sessionHashDecoderReportsCorruptionInsteadOfCrashing() throws {
        let good: [(String, [UInt8])] = [
            ("session_id", Array("0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d".utf8)),
            ("agent_id", Array("agent".utf8)),
            ("workflow_id", Array("wf".utf8)),
            ("status", Array("active".utf8)),
            ("start_time", Array("2026-11-25T12:00:00.123Z".utf8)),
            ("last_updated_time", Array("2026-11-25T12:00:01.456Z".utf8)),
            ("metadata", Array(#"{"a":1}"#.utf8)),
            ("version", Array("3".utf8)),
        ]
        let key = Array("opscore:session:0b6f7c1e-3f0a-4a57-9a43-2f1f8f6f1c2d".utf8)
        func reply(_ fields: [(String, [UInt8])]) -> RedisReply {
            .array(fields.flatMap { [RedisReply.string(Array($0.0.utf8)), .string($0.1)] })
        }
        #expect(try SessionHash.decode(reply(good), key: key)?.version == 3)
        var random = JSONTestSplitMix64(seed: 0xDEC0DE)
        var decoded = 0
        var corrupt = 0
        for _ in 0..<20_000 {
            var fields = good
            switch random.below(3) {
            case 0: fields.remove(at: random.below(fields.count))
            case 1:
                let index = random.below(fields.count)
                fields[index].1 = Self.mutate(fields[index].1, &random)
            default:
                let index = random.below(fields.count)
                fields[index].1 = Self.mutate(fields[index].1, &random)
                fields.shuffle(using: &random)
            }
            #expect(Self.outcome(decodingInPlace: fields, key: key) == Self.outcome { () throws(OpsCoreError) in try SessionHash.decode(reply(fields), key: key) })
            do {
                if try SessionHash.decode(reply(fields), key: key) != nil { decoded += 1 }
            } catch OpsCoreError.corruptSession(let reportedKey, let field, _) {
                corrupt += 1
                #expect(reportedKey == String(decoding: key, as: UTF8.self))
                #expect(good.contains { $0.0 == field })
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(decoded > 100)
        #expect(corrupt > 1_000)
    }

    /// A decode's session, or its error as text, to compare the two ways of decoding.
    private enum Outcome: Equatable {
        case decoded(Session?)
        case failed(String)
        case noReply
    }

    private static func outcome(_ decode: () throws(OpsCoreError) -> Session?) -> Outcome {
        do {
            return .decoded(try decode())
        } catch {
            return .failed("\(error)")
        }
    }

    /// The fields sent as an `HGETALL` reply's RESP and decoded where they lie in the
    /// reader's buffer, as ``SessionStore/read(_:)`` does.
    private static func outcome(decodingInPlace fields: [(String, [UInt8])], key: [UInt8]) -> Outcome {
        var resp = Array("*\(fields.count * 2)\r\n".utf8)
        for (name, value) in fields {
            for bytes in [Array(name.utf8), value] { resp += Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10] }
        }
        var reader = RedisReplyReader()
        reader.feed(resp)
        var result = Outcome.noReply
        _ = try? reader.nextBytes { bytes in
            guard let elements = bytes.bulkStrings else { return }
            result = outcome { () throws(OpsCoreError) in try SessionHash.decode(elements: elements, key: key) }
        }
        return result
    }
}
