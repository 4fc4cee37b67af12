// Strict RFC 8259 parser working on contiguous UTF-8 bytes.
//
// The parser is iterative: containers being filled live on an explicit heap
// stack, so no input can overflow the call stack, whatever `maximumDepth`
// is. Strings are validated as UTF-8 byte by byte and then turned into
// `String`s from byte slices in one go.

extension JSONValue {
    /// The default limit on nesting of arrays and objects accepted by the
    /// parser: a text nested 64 levels deep (e.g. 64 `[`) parses, 65 levels is
    /// refused with `nesting deeper than 64 levels`.
    public static let maximumNestingDepth = 64

    /// Parses exactly one JSON text (RFC 8259) from UTF-8 bytes.
    ///
    /// Leading and trailing whitespace (space, tab, line feed, carriage
    /// return) is allowed; anything else after the value is an error. The
    /// parser is strict: no comments, trailing commas, single quotes, leading
    /// zeros, `NaN`/`Infinity`, unescaped control characters, invalid escapes,
    /// unpaired surrogate escapes, byte order mark or invalid UTF-8. For
    /// duplicate object keys the last one wins. Numbers without fraction or
    /// exponent that fit in `Int64` become ``integer(_:)``, all others
    /// ``double(_:)``; a number too large for `Double` is an error.
    ///
    /// Contiguous collections (`[UInt8]`, `ArraySlice<UInt8>`,
    /// `UnsafeRawBufferPointer`, `String.UTF8View` of a native string, ...)
    /// are parsed in place; other collections are copied into an array first.
    ///
    /// - Parameters:
    ///   - bytes: The UTF-8 encoded JSON text.
    ///   - maximumDepth: The deepest nesting of arrays and objects accepted.
    ///     Nesting never overflows the parser's stack, but deeply nested
    ///     values are expensive to compare, write and deallocate (all
    ///     recursive), so keep this small.
    /// - Throws: ``JSONParseError`` with a message and the byte offset of the
    ///   first problem found.
    public init(parsing bytes: some Collection<UInt8>, maximumDepth: Int = JSONValue.maximumNestingDepth) throws(JSONParseError) {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            Swift.Result { () throws(JSONParseError) -> JSONValue in
                try JSONValue.parse(buffer, maximumDepth: maximumDepth)
            }
        }
        if let result {
            self = try result.get()
        } else {
            let array = Array(bytes)
            self = try array.withUnsafeBufferPointer { buffer throws(JSONParseError) in
                try JSONValue.parse(buffer, maximumDepth: maximumDepth)
            }
        }
    }

    /// Parses exactly one JSON text (RFC 8259) from a string.
    ///
    /// Same rules as the initializer taking a byte collection;
    /// offsets in errors are offsets in the string's UTF-8 encoding.
    ///
    /// - Parameters:
    ///   - text: The JSON text.
    ///   - maximumDepth: The deepest nesting of arrays and objects accepted.
    /// - Throws: ``JSONParseError`` with a message and the byte offset of the
    ///   first problem found.
    public init(parsing text: String, maximumDepth: Int = JSONValue.maximumNestingDepth) throws(JSONParseError) {
        var text = text
        let result = text.withUTF8 { buffer in
            Swift.Result { () throws(JSONParseError) -> JSONValue in
                try JSONValue.parse(buffer, maximumDepth: maximumDepth)
            }
        }
        self = try result.get()
    }

    /// Parses one JSON text from a buffer of UTF-8 bytes.
    static func parse(_ buffer: UnsafeBufferPointer<UInt8>, maximumDepth: Int) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(buffer, maximumDepth: maximumDepth)
        return try parser.parseDocument()
    }
}

// MARK: - Byte constants

extension UInt8 {
    @inline(__always) static var jsonQuote: UInt8 { 0x22 }        // "
    @inline(__always) static var jsonBackslash: UInt8 { 0x5C }    // \
    @inline(__always) static var jsonSlash: UInt8 { 0x2F }        // /
    @inline(__always) static var jsonComma: UInt8 { 0x2C }        // ,
    @inline(__always) static var jsonColon: UInt8 { 0x3A }        // :
    @inline(__always) static var jsonOpenBracket: UInt8 { 0x5B }  // [
    @inline(__always) static var jsonCloseBracket: UInt8 { 0x5D } // ]
    @inline(__always) static var jsonOpenBrace: UInt8 { 0x7B }    // {
    @inline(__always) static var jsonCloseBrace: UInt8 { 0x7D }   // }
    @inline(__always) static var jsonMinus: UInt8 { 0x2D }        // -
    @inline(__always) static var jsonPlus: UInt8 { 0x2B }         // +
    @inline(__always) static var jsonDot: UInt8 { 0x2E }          // .
    @inline(__always) static var jsonZero: UInt8 { 0x30 }         // 0
    @inline(__always) static var jsonNine: UInt8 { 0x39 }         // 9
}

// MARK: - Parser

/// One array or object being filled by the parser.
private struct JSONContainerFrame {
    var isObject: Bool
    var array: [JSONValue] = []
    var object: [String: JSONValue] = [:]
    /// The key whose value is being parsed (objects only).
    var key: String = ""
}

/// The parser state over one input buffer.
struct JSONParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private let count: Int
    private let maximumDepth: Int
    private var position = 0
    /// Reused storage for strings that contain escapes.
    private var scratch: [UInt8] = []

    init(_ bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.count = bytes.count
        self.maximumDepth = maximumDepth
    }

    // MARK: Errors

    private func error(_ message: String, at offset: Int) -> JSONParseError {
        JSONParseError(message: message, offset: offset)
    }

    /// Describes the byte at `offset` for an error message: `'x'` for
    /// printable ASCII, `byte 0xNN` otherwise.
    private func describeByte(at offset: Int) -> String {
        let byte = bytes[offset]
        if byte >= 0x21 && byte <= 0x7E {
            return "character '\(String(UnicodeScalar(byte)))'"
        }
        return "byte 0x\(JSONParser.hex(byte))"
    }

    static func hex(_ byte: UInt8) -> String {
        let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }

    /// The error for the byte at `offset`, or for the end of input if
    /// `offset` is past the end.
    private func unexpected(at offset: Int, _ context: String = "") -> JSONParseError {
        if offset >= count {
            return error("unexpected end of input", at: count)
        }
        return error("unexpected \(describeByte(at: offset))\(context)", at: offset)
    }

    // MARK: Structure

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        if position != count {
            throw unexpected(at: position, " after JSON value")
        }
        return value
    }

    /// Parses one value, iteratively for nested containers.
    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        var stack: [JSONContainerFrame] = []
        var value: JSONValue

        parsing: while true {
            // Parse the start of a value: a scalar, an empty container, or the
            // opening of a non-empty container (pushed, then loop again).
            skipWhitespace()
            guard position < count else { throw unexpected(at: position) }
            let byte = bytes[position]
            switch byte {
            case .jsonOpenBracket:
                guard stack.count < maximumDepth else {
                    throw error("nesting deeper than \(maximumDepth) levels", at: position)
                }
                position += 1
                skipWhitespace()
                if position < count && bytes[position] == .jsonCloseBracket {
                    position += 1
                    value = .array([])
                } else {
                    var frame = JSONContainerFrame(isObject: false)
                    frame.array.reserveCapacity(4)
                    stack.append(frame)
                    continue parsing
                }
            case .jsonOpenBrace:
                guard stack.count < maximumDepth else {
                    throw error("nesting deeper than \(maximumDepth) levels", at: position)
                }
                position += 1
                skipWhitespace()
                if position < count && bytes[position] == .jsonCloseBrace {
                    position += 1
                    value = .object([:])
                } else {
                    let key = try parseObjectKey()
                    stack.append(JSONContainerFrame(isObject: true, object: Dictionary(minimumCapacity: 4), key: key))
                    continue parsing
                }
            case .jsonQuote:
                value = .string(try parseString())
            case 0x74: // t
                try expectLiteral("true")
                value = .bool(true)
            case 0x66: // f
                try expectLiteral("false")
                value = .bool(false)
            case 0x6E: // n
                try expectLiteral("null")
                value = .null
            case .jsonMinus, .jsonZero ... .jsonNine:
                value = try parseNumber()
            default:
                throw unexpected(at: position)
            }

            // A value is complete: add it to the enclosing containers, closing
            // as many of them as end here.
            while !stack.isEmpty {
                let top = stack.count - 1
                skipWhitespace()
                if stack[top].isObject {
                    let key = stack[top].key
                    stack[top].object[key] = value
                    guard position < count else { throw unexpected(at: position) }
                    switch bytes[position] {
                    case .jsonComma:
                        position += 1
                        skipWhitespace()
                        stack[top].key = try parseObjectKey()
                        continue parsing
                    case .jsonCloseBrace:
                        position += 1
                        value = .object(stack.removeLast().object)
                    default:
                        throw unexpected(at: position, ", expected ',' or '}'")
                    }
                } else {
                    stack[top].array.append(value)
                    guard position < count else { throw unexpected(at: position) }
                    switch bytes[position] {
                    case .jsonComma:
                        position += 1
                        continue parsing
                    case .jsonCloseBracket:
                        position += 1
                        value = .array(stack.removeLast().array)
                    default:
                        throw unexpected(at: position, ", expected ',' or ']'")
                    }
                }
            }
            return value
        }
    }

    /// Parses `"key"` and the following `:`; `position` is at the key's
    /// expected opening quote (whitespace already skipped).
    private mutating func parseObjectKey() throws(JSONParseError) -> String {
        guard position < count, bytes[position] == .jsonQuote else {
            throw unexpected(at: position, ", expected string for object key")
        }
        let key = try parseString()
        skipWhitespace()
        guard position < count, bytes[position] == .jsonColon else {
            throw unexpected(at: position, ", expected ':' after object key")
        }
        position += 1
        return key
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let length = literal.utf8CodeUnitCount
        let expected = literal.utf8Start
        for index in 0 ..< length {
            let offset = position + index
            guard offset < count, bytes[offset] == expected[index] else {
                throw unexpected(at: offset)
            }
        }
        position += length
    }

    // MARK: Numbers

    @inline(__always)
    private func isDigit(at offset: Int) -> Bool {
        offset < count && bytes[offset] >= .jsonZero && bytes[offset] <= .jsonNine
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = position
        var index = position
        var negative = false
        if bytes[index] == .jsonMinus {
            negative = true
            index += 1
            guard isDigit(at: index) else {
                throw unexpected(at: index, ", expected digit after '-'")
            }
        }

        // Integer part, accumulated (negatively for negative numbers, so that
        // Int64.min fits) until it overflows.
        var integer: Int64 = 0
        var overflow = false
        if bytes[index] == .jsonZero {
            index += 1
            if isDigit(at: index) {
                throw error("leading zeros are not allowed", at: index - 1)
            }
        } else {
            while isDigit(at: index) {
                let digit = Int64(bytes[index] &- .jsonZero)
                if !overflow {
                    let (shifted, o1) = integer.multipliedReportingOverflow(by: 10)
                    let (next, o2) = negative
                        ? shifted.subtractingReportingOverflow(digit)
                        : shifted.addingReportingOverflow(digit)
                    integer = next
                    overflow = o1 || o2
                }
                index += 1
            }
        }

        var isInteger = true
        if index < count && bytes[index] == .jsonDot {
            isInteger = false
            index += 1
            guard isDigit(at: index) else {
                throw unexpected(at: index, ", expected digit after decimal point")
            }
            while isDigit(at: index) { index += 1 }
        }
        if index < count && (bytes[index] == 0x65 || bytes[index] == 0x45) { // e E
            isInteger = false
            index += 1
            if index < count && (bytes[index] == .jsonPlus || bytes[index] == .jsonMinus) {
                index += 1
            }
            guard isDigit(at: index) else {
                throw unexpected(at: index, ", expected digit in exponent")
            }
            while isDigit(at: index) { index += 1 }
        }
        position = index

        if isInteger && !overflow {
            return .integer(integer)
        }
        // The syntax was checked above, so `Double(_:)` sees only RFC 8259
        // number text (which it parses with correct rounding).
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< index]), as: UTF8.self)
        guard let double = Double(text), double.isFinite else {
            throw error("number out of range", at: start)
        }
        return .double(double)
    }

    // MARK: Strings

    /// Parses a string; `position` is at the opening quote.
    private mutating func parseString() throws(JSONParseError) -> String {
        let start = position + 1
        var index = start
        // Fast path: no escapes, so the result is a slice of the input.
        while true {
            guard index < count else {
                throw error("unexpected end of input in string", at: count)
            }
            let byte = bytes[index]
            if byte == .jsonQuote {
                position = index + 1
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< index]), as: UTF8.self)
            }
            if byte == .jsonBackslash {
                return try parseEscapedString(start: start, escapeAt: index)
            }
            if byte < 0x20 {
                throw error("unescaped control character 0x\(JSONParser.hex(byte)) in string", at: index)
            }
            if byte < 0x80 {
                index += 1
            } else {
                index = try validateUTF8Sequence(at: index)
            }
        }
    }

    /// Slow path of ``parseString()`` for strings with escapes: copies the
    /// decoded bytes into `scratch`.
    private mutating func parseEscapedString(start: Int, escapeAt firstEscape: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start ..< firstEscape]))
        var index = firstEscape
        var runStart = firstEscape
        while true {
            guard index < count else {
                throw error("unexpected end of input in string", at: count)
            }
            let byte = bytes[index]
            if byte == .jsonQuote {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart ..< index]))
                position = index + 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if byte == .jsonBackslash {
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart ..< index]))
                index = try decodeEscape(at: index)
                runStart = index
            } else if byte < 0x20 {
                throw error("unescaped control character 0x\(JSONParser.hex(byte)) in string", at: index)
            } else if byte < 0x80 {
                index += 1
            } else {
                index = try validateUTF8Sequence(at: index)
            }
        }
    }

    /// Decodes the escape sequence whose backslash is at `index` into
    /// `scratch`; returns the index after it.
    private mutating func decodeEscape(at index: Int) throws(JSONParseError) -> Int {
        let next = index + 1
        guard next < count else {
            throw error("unexpected end of input in string", at: count)
        }
        let decoded: UInt8
        switch bytes[next] {
        case .jsonQuote: decoded = .jsonQuote
        case .jsonBackslash: decoded = .jsonBackslash
        case .jsonSlash: decoded = .jsonSlash
        case 0x62: decoded = 0x08 // b
        case 0x66: decoded = 0x0C // f
        case 0x6E: decoded = 0x0A // n
        case 0x72: decoded = 0x0D // r
        case 0x74: decoded = 0x09 // t
        case 0x75: // u
            return try decodeUnicodeEscape(at: index)
        default:
            throw error("invalid escape sequence '\\\(describeEscapeByte(at: next))'", at: index)
        }
        scratch.append(decoded)
        return next + 1
    }

    private func describeEscapeByte(at offset: Int) -> String {
        let byte = bytes[offset]
        if byte >= 0x21 && byte <= 0x7E {
            return String(UnicodeScalar(byte))
        }
        return "<0x\(JSONParser.hex(byte))>"
    }

    /// Reads the four hex digits of `\uXXXX` whose backslash is at `index`.
    private func readHexEscape(at index: Int) throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for offset in index + 2 ..< index + 6 {
            guard offset < count else {
                throw error("unexpected end of input in string", at: count)
            }
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case 0x30 ... 0x39: digit = byte &- 0x30
            case 0x41 ... 0x46: digit = byte &- 0x41 &+ 10
            case 0x61 ... 0x66: digit = byte &- 0x61 &+ 10
            default:
                throw error("invalid \\u escape, expected hex digit", at: offset)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// Decodes `\uXXXX` (and a following low surrogate escape if `XXXX` is a
    /// high surrogate) into UTF-8 in `scratch`; returns the index after it.
    private mutating func decodeUnicodeEscape(at index: Int) throws(JSONParseError) -> Int {
        let unit = try readHexEscape(at: index)
        var scalar = unit
        var end = index + 6
        switch unit {
        case 0xD800 ... 0xDBFF:
            guard end + 1 < count, bytes[end] == .jsonBackslash, bytes[end + 1] == 0x75 else {
                throw error("unpaired surrogate escape \\u\(JSONParser.hex(UInt8(unit >> 8)))\(JSONParser.hex(UInt8(unit & 0xFF)))", at: index)
            }
            let low = try readHexEscape(at: end)
            guard low >= 0xDC00 && low <= 0xDFFF else {
                throw error("unpaired surrogate escape \\u\(JSONParser.hex(UInt8(unit >> 8)))\(JSONParser.hex(UInt8(unit & 0xFF)))", at: index)
            }
            scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            end += 6
        case 0xDC00 ... 0xDFFF:
            throw error("unpaired surrogate escape \\u\(JSONParser.hex(UInt8(unit >> 8)))\(JSONParser.hex(UInt8(unit & 0xFF)))", at: index)
        default:
            break
        }
        appendUTF8(scalar)
        return end
    }

    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0 ..< 0x80:
            scratch.append(UInt8(scalar))
        case 0x80 ..< 0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800 ..< 0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// Validates the multi-byte UTF-8 sequence starting at `index` (whose
    /// lead byte is >= 0x80), following RFC 3629 (no overlong forms, no
    /// surrogates, nothing above U+10FFFF); returns the index after it.
    private func validateUTF8Sequence(at index: Int) throws(JSONParseError) -> Int {
        let lead = bytes[index]
        let length: Int
        var low: UInt8 = 0x80   // allowed range of the second byte
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2 ... 0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1 ... 0xEC, 0xEE ... 0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1 ... 0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default:
            throw error("invalid UTF-8", at: index)
        }
        for offset in index + 1 ..< index + length {
            guard offset < count else {
                throw error("invalid UTF-8", at: offset)
            }
            let byte = bytes[offset]
            guard byte >= low && byte <= high else {
                throw error("invalid UTF-8", at: offset)
            }
            low = 0x80
            high = 0xBF
        }
        return index + length
    }
}
