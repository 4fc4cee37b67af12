import OpsCore
import Testing

/// ISO-8601 UTC with milliseconds, the form of the hash's time fields. No server needed.
@Suite struct TimestampTests {
    static let knownInstants: [(String, Int64)] = [
        ("1970-01-01T00:00:00.000Z", 0),
        ("1970-01-01T00:00:00.001Z", 1),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2023-12-31T23:59:59.999Z", 1_704_067_199_999),
        ("2024-01-01T00:00:00.000Z", 1_704_067_200_000),
        ("2024-02-29T12:34:56.789Z", 1_709_210_096_789),
        ("2024-03-01T00:00:00.000Z", 1_709_251_200_000),
        ("2000-02-29T00:00:00.000Z", 951_782_400_000),
        ("2026-11-25T12:00:00.123Z", 1_795_608_000_123),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
    ]

    @Test func formatsKnownInstants() {
        for (text, milliseconds) in Self.knownInstants {
            let timestamp = Timestamp(millisecondsSince1970: milliseconds)
            #expect(timestamp.description == text)
            #expect(timestamp.iso8601Bytes == Array(text.utf8))
        }
    }

    @Test func parsesKnownInstants() {
        for (text, milliseconds) in Self.knownInstants {
            #expect(Timestamp(iso8601: Array(text.utf8))?.millisecondsSince1970 == milliseconds, "\(text)")
            #expect(Timestamp(iso8601: text.utf8)?.millisecondsSince1970 == milliseconds, "\(text)")
        }
    }

    @Test func leapDayAndYearBoundaryAreNeighboursOfTheirDays() throws {
        let leapDayEnd = try #require(Timestamp(iso8601: "2024-02-29T23:59:59.999Z".utf8))
        #expect(Timestamp(millisecondsSince1970: leapDayEnd.millisecondsSince1970 + 1).description == "2024-03-01T00:00:00.000Z")
        let beforeLeapDay = try #require(Timestamp(iso8601: "2024-02-28T23:59:59.999Z".utf8))
        #expect(Timestamp(millisecondsSince1970: beforeLeapDay.millisecondsSince1970 + 1).description == "2024-02-29T00:00:00.000Z")
        let yearEnd = try #require(Timestamp(iso8601: "2023-12-31T23:59:59.999Z".utf8))
        #expect(Timestamp(millisecondsSince1970: yearEnd.millisecondsSince1970 + 1).description == "2024-01-01T00:00:00.000Z")
        // 2023 is not a leap year: Feb 28 is followed by Mar 1.
        let notLeap = try #require(Timestamp(iso8601: "2023-02-28T00:00:00.000Z".utf8))
        #expect(Timestamp(millisecondsSince1970: notLeap.millisecondsSince1970 + 86_400_000).description == "2023-03-01T00:00:00.000Z")
    }

    @Test func roundTripsEveryMillisecondFormOverFourCenturies() {
        var generator = JSONTestSplitMix64(seed: 0x5EED)
        for _ in 0..<20_000 {
            let milliseconds = Int64(generator.next() % 12_622_780_800_000) + 946_684_800_000 - 6_311_390_400_000
            let timestamp = Timestamp(millisecondsSince1970: milliseconds)
            let bytes = timestamp.iso8601Bytes
            #expect(bytes.count == 24)
            #expect(Timestamp(iso8601: bytes) == timestamp, "\(timestamp)")
        }
    }

    @Test func ordersByInstant() {
        let earlier = Timestamp(millisecondsSince1970: 1_000)
        let later = Timestamp(millisecondsSince1970: 1_001)
        #expect(earlier < later)
        #expect(max(earlier, later) == later)
        #expect(Timestamp(iso8601: "2024-01-01T00:00:00.000Z".utf8)! > Timestamp(iso8601: "2023-12-31T23:59:59.999Z".utf8)!)
    }

    @Test(arguments: [
        "",
        "2024-01-01T00:00:00Z",            // no milliseconds
        "2024-01-01T00:00:00.00Z",         // two digits
        "2024-01-01T00:00:00.0000Z",       // four digits
        "2024-01-01T00:00:00.000",         // no zone
        "2024-01-01T00:00:00.000+00:00",   // offset instead of Z
        "2024-01-01T00:00:00.000z",        // lowercase z
        "2024-01-01t00:00:00.000Z",        // lowercase t
        "2024-01-01 00:00:00.000Z",        // space instead of T
        "2024-01-01T00:00:00,000Z",        // comma
        "2024/01/01T00:00:00.000Z",
        "24-01-01T00:00:00.000Z",
        "20240101T000000.000Z",
        " 2024-01-01T00:00:00.000Z",
        "2024-01-01T00:00:00.000Z ",
        "2024-01-01T00:00:00.000Z\n",
        "2024-13-01T00:00:00.000Z",        // month 13
        "2024-00-01T00:00:00.000Z",        // month 0
        "2024-01-00T00:00:00.000Z",        // day 0
        "2024-01-32T00:00:00.000Z",
        "2024-04-31T00:00:00.000Z",        // April has 30 days
        "2023-02-29T00:00:00.000Z",        // not a leap year
        "1900-02-29T00:00:00.000Z",        // century, not a leap year
        "2024-01-01T24:00:00.000Z",        // hour 24
        "2024-01-01T00:60:00.000Z",
        "2024-01-01T00:00:60.000Z",        // no leap seconds
        "2024-01-01T00:00:0a.000Z",
        "+024-01-01T00:00:00.000Z",
        "-024-01-01T00:00:00.000Z",
        "2024-01-01T00:00:00.-00Z",
        "２０２４-01-01T00:00:00.000Z",     // full-width digits
    ])
    func rejectsMalformedText(text: String) {
        #expect(Timestamp(iso8601: Array(text.utf8)) == nil)
    }
}
