import Foundation
import OpsCore
import Testing

/// Session ids: canonical UUID text, always lowercase. No server needed.
@Suite struct SessionIDTests {
    @Test func parsesLowerUpperAndMixedCaseToTheSameLowercaseID() throws {
        let lower = try #require(SessionID("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"))
        let upper = try #require(SessionID("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"))
        let mixed = try #require(SessionID("0a1B2c3D-4E5f-4a6B-8C7d-9e0F1A2b3c4D"))
        #expect(lower.text == "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
        #expect(upper.text == lower.text)
        #expect(mixed.text == lower.text)
        #expect(upper == lower)
        #expect(upper.hashValue == lower.hashValue)
        #expect(upper.description == lower.text)
    }

    @Test func acceptsAnyCanonicalUUIDNotOnlyVersion4() {
        #expect(SessionID("00000000-0000-0000-0000-000000000000")?.text == "00000000-0000-0000-0000-000000000000")
        #expect(SessionID("FFFFFFFF-FFFF-1FFF-FFFF-FFFFFFFFFFFF")?.text == "ffffffff-ffff-1fff-ffff-ffffffffffff")
        // Foundation's UUID prints uppercase; it reads back lowercased.
        let uuid = UUID()
        #expect(SessionID(uuid.uuidString)?.text == uuid.uuidString.lowercased())
    }

    @Test(arguments: [
        "",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4",     // 35 characters
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d0",   // 37
        "0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d",        // no hyphens
        "0a1b2c3d-4e5f-4a6b-8c7d9e0f-1a2b3c4d",    // hyphen misplaced
        "0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4g",    // not hex
        "{0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}",
        "urn:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        " 0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d ",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c\n4",
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3cé",     // 36 bytes, not hex
        "０a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",    // full-width digit
        "------------------------------------",
    ])
    func rejectsNonCanonicalText(text: String) {
        #expect(SessionID(text) == nil)
    }

    @Test func randomIDsAreLowercaseVersion4WithTheRFCVariant() throws {
        var seen = Set<SessionID>()
        for _ in 0..<2_000 {
            let id = SessionID.random()
            let bytes = Array(id.text.utf8)
            #expect(bytes.count == 36)
            #expect(id.text == id.text.lowercased())
            #expect(bytes[14] == UInt8(ascii: "4"), "version nibble in \(id)")
            #expect([UInt8(ascii: "8"), UInt8(ascii: "9"), UInt8(ascii: "a"), UInt8(ascii: "b")].contains(bytes[19]), "variant in \(id)")
            #expect(SessionID(id.text) == id)
            seen.insert(id)
        }
        #expect(seen.count == 2_000)
    }

    @Test func randomIDsUseEveryHexDigitInEveryFreePosition() {
        // 122 random bits: over many ids, each free position takes all 16 digits.
        var digits = [Set<UInt8>](repeating: [], count: 36)
        for _ in 0..<2_000 {
            for (index, byte) in SessionID.random().text.utf8.enumerated() { digits[index].insert(byte) }
        }
        for index in 0..<36 {
            switch index {
            case 8, 13, 18, 23: #expect(digits[index] == [UInt8(ascii: "-")])
            case 14: #expect(digits[index] == [UInt8(ascii: "4")])
            case 19: #expect(digits[index].count == 4, "variant position")
            default: #expect(digits[index].count == 16, "position \(index)")
            }
        }
    }

    @Test func codableUsesTheLowercaseTextAndRefusesBadText() throws {
        let id = try #require(SessionID("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"))
        let encoded = try JSONEncoder().encode([id])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"]"#)
        let decoded = try JSONDecoder().decode([SessionID].self, from: Data(#"["0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"]"#.utf8))
        #expect(decoded == [id])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([SessionID].self, from: Data(#"["not-a-uuid"]"#.utf8))
        }
    }
}
