import OpsCore
import Testing

/// An input and the value it must parse to.
struct ValidJSONCase: Sendable, CustomTestStringConvertible {
    let text: String
    let expected: JSONValue
    init(_ text: String, _ expected: JSONValue) {
        self.text = text
        self.expected = expected
    }
    var testDescription: String { text }
}

/// Parser acceptance and rejection.
struct JSONParserTests {
    static let validCases: [ValidJSONCase] = [
        .init("null", .null),
        .init("true", .bool(true)),
        .init("false", .bool(false)),
        .init("0", .integer(0)),
        .init("-0", .integer(0)),
        .init("7", .integer(7)),
        .init("-12", .integer(-12)),
        .init("9223372036854775807", .integer(.max)),
        .init("-9223372036854775808", .integer(.min)),
        .init("9223372036854775808", .double(9_223_372_036_854_775_808.0)),
        .init("-9223372036854775809", .double(-9_223_372_036_854_775_809.0)),
        .init("123456789012345678901234567890", .double(1.2345678901234568e29)),
        .init("0.5", .double(0.5)),
        .init("-0.0", .double(-0.0)),
        .init("1.0", .double(1.0)),
        .init("1e2", .double(100)),
        .init("1E2", .double(100)),
        .init("1e+2", .double(100)),
        .init("1e-2", .double(0.01)),
        .init("-1.25e-3", .double(-0.00125)),
        .init("0e0", .double(0)),
        .init("1e007", .double(1e7)),
        .init("1e-400", .double(0)),
        .init("1.7976931348623157e308", .double(.greatestFiniteMagnitude)),
        .init("0.1", .double(0.1)),
        .init(#""""#, .string("")),
        .init(#""abc""#, .string("abc")),
        .init(#""a/b""#, .string("a/b")),
        .init(#""\"\\\/\b\f\n\r\t""#, .string("\"\\/\u{8}\u{C}\n\r\t")),
        .init(#""\u0041\u00e9\u4E2D\u0000""#, .string("Aé中\u{0}")),
        .init(#""\ud83d\ude00""#, .string("😀")),
        .init(#""\uD834\uDD1E""#, .string("\u{1D11E}")),
        .init(#""\uDBFF\uDFFF""#, .string("\u{10FFFF}")),
        .init(#""x\ud83d\ude00y\n""#, .string("x😀y\n")),
        .init("\"Zoë 中文 😀 \u{7F}\"", .string("Zoë 中文 😀 \u{7F}")),
        .init("[]", .array([])),
        .init("{}", .object([:])),
        .init("[1,\"a\",null,true,[],{}]", .array([1, "a", .null, true, [], [:]])),
        .init(#"{"a":1,"b":[2,{"c":null}]}"#, ["a": 1, "b": [2, ["c": .null]]]),
        .init(#"{"a":1,"a":2}"#, ["a": 2]),
        .init(#"{"a":{"x":1},"a":"last"}"#, ["a": "last"]),
        .init(" \t\r\n[ 1 , 2 ]\n\t\r ", [1, 2]),
        .init(" { \"k\" : [ ] , \"l\" : { } } ", ["k": [], "l": [:]]),
        .init(#"{"":""}"#, ["": ""]),
        .init(#"{"step":3,"host":"a","tags":["x","y"],"ok":true}"#, ["step": 3, "host": "a", "tags": ["x", "y"], "ok": true]),
    ]

    @Test(arguments: validCases)
    func validFormParsesToExpectedValue(_ testCase: ValidJSONCase) throws {
        let fromString = try JSONValue(parsing: testCase.text)
        #expect(fromString == testCase.expected)
        let fromBytes = try JSONValue(parsing: Array(testCase.text.utf8))
        #expect(fromBytes == testCase.expected)
        // Round trip through the writer.
        #expect(try JSONValue(parsing: fromBytes.jsonBytes) == fromBytes)
    }

    @Test func negativeZeroDoubleKeepsItsSign() throws {
        let value = try JSONValue(parsing: "-0.0")
        #expect(value.doubleValue?.sign == .minus)
    }

    static let invalidCases: [String] = [
        "", " ", "\n\t",
        "01", "-01", "00", "+1", ".5", "-.5", "1.", "1.e3", "-", "--1", "1e", "1e+", "1E-", "0x10", "1_000",
        "NaN", "Infinity", "-Infinity", "nan", "inf", "1e400", "-1e400", "1e309",
        "[1,]", "[1,,2]", "[,1]", "{\"a\":1,}", "{,}", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{\"a\"}", "{1:2}", "{a:1}",
        "'a'", "['a']", "{'a':1}",
        "// c\n1", "/* c */ 1", "[1 /* c */]", "1 // c", "# c\n1",
        "\"a\u{0}b\"", "\"a\nb\"", "\"\t\"", "\"\u{1F}\"",
        #""\x""#, #""\a""#, #""\U0041""#, #""\u12""#, #""\u12G4""#, #""\'""#, "\"\\\u{1}\"",
        #""\ud800""#, #""\udc00""#, #""\ud83d\u0041""#, #""\ud83dx""#, #""\ud83d\ud83d""#, #""\ude00\ud83d""#, #""\ud83d\""#,
        "1 2", "[] []", "{}x", "null null", "truex", "nul", "nulll", "tru", "True", "NULL", "fals",
        "[", "]", "{", "}", "[1", "{\"a\":1", "\"abc", "\"abc\\", "[\"a\"", ":", ",",
        "\u{FEFF}1", "\u{A0}1", "1\u{A0}", "\u{B}1", "\u{C}1",
    ]

    @Test(arguments: invalidCases)
    func invalidFormIsRejected(_ text: String) throws {
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: text)
        }
        let offset = try #require(error).offset
        #expect(offset >= 0 && offset <= text.utf8.count)
        #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: Array(text.utf8))
        }
    }

    static let invalidUTF8Cases: [[UInt8]] = [
        [0x22, 0xFF, 0x22],                   // never valid
        [0x22, 0xC0, 0xAF, 0x22],             // overlong '/'
        [0x22, 0xC1, 0xBF, 0x22],             // overlong
        [0x22, 0xE0, 0x80, 0xAF, 0x22],       // overlong 3-byte
        [0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22], // overlong 4-byte
        [0x22, 0xED, 0xA0, 0x80, 0x22],       // UTF-8 encoded surrogate U+D800
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], // above U+10FFFF
        [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], // invalid lead byte
        [0x22, 0x80, 0x22],                   // lone continuation byte
        [0x22, 0xC3, 0x22],                   // truncated 2-byte sequence
        [0x22, 0xE4, 0xB8, 0x22],             // truncated 3-byte sequence
        [0x22, 0xC3, 0x28, 0x22],             // bad continuation
        [0x22, 0xC3],                         // truncated at end of input
        [0x5B, 0xC3, 0xA9, 0x5D],             // valid UTF-8 outside a string
        [0xFF],
        [0x31, 0x80],
    ]

    @Test(arguments: invalidUTF8Cases)
    func invalidUTF8IsRejected(_ bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: bytes)
        }
    }

    @Test func invalidUTF8InStringReportsMessageAndOffset() {
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: [0x5B, 0x22, 0x61, 0xC3, 0x28, 0x22, 0x5D])
        }
        #expect(error?.message == "invalid UTF-8")
        #expect(error?.offset == 4)
    }

    // MARK: Error messages and offsets

    @Test(arguments: [
        ("", "unexpected end of input", 0),
        ("  ", "unexpected end of input", 2),
        ("x", "unexpected character 'x'", 0),
        ("[1,x]", "unexpected character 'x'", 3),
        ("1 x", "unexpected character 'x' after JSON value", 2),
        ("[1,]", "unexpected character ']'", 3),
        ("[1 2]", "unexpected character '2', expected ',' or ']'", 3),
        ("{\"a\":1,}", "unexpected character '}', expected string for object key", 7),
        ("{\"a\" 1}", "unexpected character '1', expected ':' after object key", 5),
        ("01", "leading zeros are not allowed", 0),
        ("-01", "leading zeros are not allowed", 1),
        ("1.", "unexpected end of input", 2),
        ("1.x", "unexpected character 'x', expected digit after decimal point", 2),
        ("1e400", "number out of range", 0),
        ("[-1e400]", "number out of range", 1),
        ("\"a\nb\"", "unescaped control character 0x0A in string", 2),
        (#""\q""#, #"invalid escape sequence '\q'"#, 1),
        (#""\u12x4""#, #"invalid \u escape, expected hex digit"#, 5),
        (#"["\ud800"]"#, #"unpaired surrogate escape \uD800"#, 2),
        (#""\udc00""#, #"unpaired surrogate escape \uDC00"#, 1),
        ("\"abc", "unexpected end of input in string", 4),
        ("nulx", "unexpected character 'x'", 3),
        ("\u{FEFF}1", "unexpected byte 0xEF", 0),
    ])
    func errorReportsMessageAndByteOffset(text: String, message: String, offset: Int) {
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: text)
        }
        #expect(error?.message == message)
        #expect(error?.offset == offset)
    }

    // MARK: Nesting depth

    @Test func nestingOf64ArraysIsAccepted() throws {
        let text = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        var value = try JSONValue(parsing: text)
        var depth = 0
        while case .array(let elements) = value {
            depth += 1
            value = elements.first ?? .null
        }
        #expect(depth == 64)
    }

    @Test func nestingOf65ArraysIsRefused() {
        let text = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: text)
        }
        #expect(error?.message == "nesting deeper than 64 levels")
        #expect(error?.offset == 64)
        #expect(error?.description == "nesting deeper than 64 levels at byte 64")
    }

    @Test func nestingCountsObjectsAndArraysTogether() throws {
        // 32 objects + 32 arrays, alternating: depth 64.
        let open = String(repeating: #"{"a":["#, count: 32)
        let close = String(repeating: "]}", count: 32)
        _ = try JSONValue(parsing: open + close)
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: open + "{}" + close)
        }
        #expect(error?.message == "nesting deeper than 64 levels")
    }

    @Test func customMaximumDepthIsEnforced() throws {
        #expect(try JSONValue(parsing: "[[[1]]]", maximumDepth: 3) == [[[1]]])
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: "[[[[1]]]]", maximumDepth: 3)
        }
        #expect(error?.message == "nesting deeper than 3 levels")
        #expect(error?.offset == 3)
        #expect(try JSONValue(parsing: "5", maximumDepth: 0) == 5)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: "[]", maximumDepth: 0) }
    }

    @Test func hundredThousandDeepArrayIsRefusedWithoutCrashing() {
        let bytes = [UInt8](repeating: 0x5B, count: 100_000) + [UInt8](repeating: 0x5D, count: 100_000)
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: bytes)
        }
        #expect(error?.message == "nesting deeper than 64 levels")
        #expect(error?.offset == 64)
    }

    @Test func hugeMaximumDepthStillNeverOverflowsTheStack() {
        // The parser is iterative: even with the limit lifted, 100,000 open
        // containers only fail on the missing end of input.
        let bytes = Array(String(repeating: #"[{"a":"#, count: 50_000).utf8)
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: bytes, maximumDepth: .max)
        }
        #expect(error?.message == "unexpected end of input")
        #expect(error?.offset == bytes.count)
    }

    // MARK: Strings

    @Test func nonASCIIRoundTripsAsRawUTF8() throws {
        let text = "Grüße, 中文, עברית, 😀👍🏽, \u{10FFFF}, e\u{301}"
        let value = try JSONValue(parsing: "[\"\(text)\"]")
        #expect(value == [.string(text)])
        #expect(value.jsonString == "[\"\(text)\"]")
        #expect(try JSONValue(parsing: value.jsonBytes) == value)
    }

    @Test func escapedAndRawFormsOfTheSameTextParseEqual() throws {
        let escaped = try JSONValue(parsing: #""caf\u00e9 \ud83d\ude00 \u2028""#)
        let raw = try JSONValue(parsing: "\"café 😀 \u{2028}\"")
        #expect(escaped == raw)
        #expect(escaped.jsonBytes == raw.jsonBytes)
    }

    @Test func longStringsWithEscapesParse() throws {
        let piece = #"abc\n\"\u00e9\ud83d\ude00"#
        let text = "\"" + String(repeating: piece, count: 5_000) + "\""
        let value = try JSONValue(parsing: text)
        #expect(value == .string(String(repeating: "abc\n\"é😀", count: 5_000)))
    }

    @Test func objectKeysMayContainEscapes() throws {
        let value = try JSONValue(parsing: #"{"a\"b":1,"\u00e9":2,"\n":3}"#)
        #expect(value == ["a\"b": 1, "é": 2, "\n": 3])
        #expect(value.jsonString == #"{"\n":3,"a\"b":1,"é":2}"#)
    }

    // MARK: Input kinds

    @Test func parsesFromVariousByteCollections() throws {
        let text = #"{"k":[1,"é"]}"#
        let expected: JSONValue = ["k": [1, "é"]]
        let bytes = Array(text.utf8)
        #expect(try JSONValue(parsing: text.utf8) == expected)
        #expect(try JSONValue(parsing: bytes[...]) == expected)
        #expect(try JSONValue(parsing: ContiguousArray(bytes)) == expected)
        #expect(try JSONValue(parsing: bytes.lazy.map { $0 }) == expected)
        let framed = Array("xx".utf8) + bytes + Array("yy".utf8)
        #expect(try JSONValue(parsing: framed[2 ..< framed.count - 2]) == expected)
        let fromRawBuffer = try bytes.withUnsafeBytes { raw throws(JSONParseError) in
            try JSONValue(parsing: raw)
        }
        #expect(fromRawBuffer == expected)
        let substring = "[[\(text)]]".dropFirst().dropLast()
        #expect(try JSONValue(parsing: String(substring)) == [expected])
    }

    @Test func errorOffsetsAreRelativeToTheSliceStart() {
        let framed = Array("xxxx[1,]".utf8)
        let error = #expect(throws: JSONParseError.self) {
            try JSONValue(parsing: framed[4...])
        }
        #expect(error?.offset == 3)
    }
}
