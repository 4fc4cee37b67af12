import OpsCore
import Testing

/// Value type, accessors and writer output.
struct JSONValueTests {
    // MARK: Accessors and literals

    @Test func accessorsReturnPayloadOnlyForTheirOwnCase() {
        let object: JSONValue = ["n": 3, "s": "x"]
        #expect(object.objectValue?.count == 2)
        #expect(object["n"] == .integer(3))
        #expect(object["missing"] == nil)
        #expect(object.arrayValue == nil)
        #expect(object.stringValue == nil)

        #expect(JSONValue.string("hi").stringValue == "hi")
        #expect(JSONValue.bool(true).boolValue == true)
        #expect(JSONValue.integer(7).integerValue == 7)
        #expect(JSONValue.double(7).integerValue == nil)
        #expect(JSONValue.integer(7).doubleValue == 7.0)
        #expect(JSONValue.double(2.5).doubleValue == 2.5)
        #expect(JSONValue.array([.null]).arrayValue == [.null])
        #expect(JSONValue.null.isNull)
        #expect(!JSONValue.bool(false).isNull)
        #expect(JSONValue.string("x")["key"] == nil)
    }

    @Test func literalsBuildTheMatchingCases() {
        let value: JSONValue = ["a": [1, 2.5, "s", true, .null], "b": [:]]
        #expect(value == .object([
            "a": .array([.integer(1), .double(2.5), .string("s"), .bool(true), .null]),
            "b": .object([:]),
        ]))
    }

    @Test func dictionaryLiteralDuplicateKeyLastWins() {
        let value: JSONValue = ["k": 1, "k": 2]
        #expect(value == .object(["k": .integer(2)]))
    }

    @Test func integerAndDoubleWithSameMagnitudeAreDistinct() {
        #expect(JSONValue.integer(1) != JSONValue.double(1))
        #expect(Set<JSONValue>([.integer(1), .double(1), .integer(1)]).count == 2)
    }

    @Test func parseErrorDescriptionIncludesOffset() {
        let error = JSONParseError(message: "unexpected character 'x'", offset: 12)
        #expect(error.description == "unexpected character 'x' at byte 12")
        #expect("\(error)" == "unexpected character 'x' at byte 12")
    }

    @Test func descriptionIsCompactJSON() {
        let value: JSONValue = ["b": [1, 2], "a": "x"]
        #expect(value.description == #"{"a":"x","b":[1,2]}"#)
    }

    // MARK: Writer

    @Test func writerSortsKeysAndWritesCompactly() {
        let value: JSONValue = [
            "b": 1,
            "a": [true, false, .null],
            "A": "x",
            "é": 1.5,
            "aa": [:],
            "z": ["k": .null, "j": []],
        ]
        #expect(value.jsonString == #"{"A":"x","a":[true,false,null],"aa":{},"b":1,"z":{"j":[],"k":null},"é":1.5}"#)
    }

    @Test func writerSortsKeysByUTF8BytesNotByStringOrdering() {
        // U+212B ANGSTROM SIGN is E2 84 AB; U+00C6 is C3 86. Swift's `<`
        // compares U+212B as its canonical equivalent U+00C5, which sorts
        // before U+00C6; byte order puts U+00C6 first.
        let value: JSONValue = ["\u{212B}": 1, "\u{00C6}": 2, "~": 3, "\u{7F}": 4]
        #expect(value.jsonBytes == Array(#"{"~":3,""#.utf8) + [0x7F] + Array(#"":4,"\#u{00C6}":2,"\#u{212B}":1}"#.utf8))
    }

    @Test func writerEscapesQuoteBackslashAndControlCharactersOnly() {
        let value = JSONValue.string("q\"b\\s/n\nr\rt\tb\u{8}f\u{C}c\u{0}\u{1}\u{1F}\u{7F}é😀\u{2028}")
        #expect(value.jsonString == #""q\"b\\s/n\nr\rt\tb\bf\fc\u0000\u0001\u001f\#u{7F}é😀\#u{2028}""#)
    }

    @Test func writeStringWritesQuotedEscapedLiteral() {
        var buffer = Array("x=".utf8)
        JSONValue.writeString("a\"b\n", to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == #"x="a\"b\n""#)
        buffer.removeAll()
        JSONValue.writeString("", to: &buffer)
        #expect(buffer == [0x22, 0x22])
    }

    @Test func writeStringHandlesLongStrings() throws {
        let long = String(repeating: "abc\"é", count: 10_000)
        var buffer: [UInt8] = []
        JSONValue.writeString(long, to: &buffer)
        #expect(buffer.count == 2 + 10_000 * 7)
        #expect(try JSONValue(parsing: buffer) == .string(long))
    }

    @Test func writeAppendsToExistingBufferContents() {
        var buffer = Array("prefix:".utf8)
        JSONValue.array([1, "two"]).write(to: &buffer)
        JSONValue.null.write(to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self) == #"prefix:[1,"two"]null"#)
    }

    @Test(arguments: [
        (Int64(0), "0"), (7, "7"), (-1, "-1"), (10, "10"), (1_234_567_890, "1234567890"),
        (Int64.max, "9223372036854775807"), (Int64.min, "-9223372036854775808"),
    ])
    func writerWritesIntegersInDecimal(value: Int64, expected: String) {
        #expect(JSONValue.integer(value).jsonString == expected)
    }

    @Test(arguments: [
        (0.1, "0.1"), (5.0, "5.0"), (-0.0, "-0.0"), (1e20, "1e+20"), (1.5e-7, "1.5e-07"),
        (123.456, "123.456"), (Double.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9_007_199_254_740_993.0, "9007199254740992.0"),
    ])
    func writerWritesDoublesInShortestRoundTripForm(value: Double, expected: String) throws {
        #expect(JSONValue.double(value).jsonString == expected)
        let parsed = try JSONValue(parsing: expected)
        #expect(parsed == .double(value))
        #expect(parsed.doubleValue?.bitPattern == value.bitPattern)
    }

    @Test func writerWritesNonFiniteDoublesAsNull() {
        #expect(JSONValue.double(.nan).jsonString == "null")
        #expect(JSONValue.double(.infinity).jsonString == "null")
        #expect(JSONValue.double(-.infinity).jsonString == "null")
    }

    @Test func writerOutputIsDeterministicForEqualObjects() {
        var first: [String: JSONValue] = [:]
        var second: [String: JSONValue] = [:]
        let keys = (0 ..< 50).map { "key\($0)" }
        for key in keys { first[key] = .string(key) }
        for key in keys.reversed() { second[key] = .string(key) }
        #expect(JSONValue.object(first).jsonBytes == JSONValue.object(second).jsonBytes)
    }

    @Test func jsonStringMatchesJsonBytes() {
        let value: JSONValue = ["name": "Zoë", "list": [1, 2.5, "😀"]]
        #expect(Array(value.jsonString.utf8) == value.jsonBytes)
    }
}
