// Compact, deterministic JSON serialization into byte buffers.

extension JSONValue {
    /// The compact JSON text of the value as UTF-8 bytes.
    ///
    /// No whitespace is written, object keys are sorted by their UTF-8 bytes,
    /// so equal values give identical bytes. Strings escape only `"`, `\` and
    /// control characters (U+0000...U+001F); everything else, including `/`
    /// and non-ASCII characters, is written as raw UTF-8. Doubles are written
    /// in the shortest form that reads back as the same `Double` (e.g. `0.1`,
    /// `5.0`, `1e+20`), always with a `.` or an exponent so they parse back as
    /// ``double(_:)``.
    public var jsonBytes: [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(64)
        write(to: &buffer)
        return buffer
    }

    /// The compact JSON text of the value, as ``jsonBytes`` decoded as UTF-8.
    public var jsonString: String {
        String(decoding: jsonBytes, as: UTF8.self)
    }

    /// Appends the compact JSON text of the value (as in ``jsonBytes``) to a
    /// byte buffer, to build bigger documents without intermediate copies.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to; existing contents are kept.
    public func write(to buffer: inout [UInt8]) {
        switch self {
        case .null:
            JSONValue.appendLiteral("null", to: &buffer)
        case .bool(let value):
            JSONValue.appendLiteral(value ? "true" : "false", to: &buffer)
        case .integer(let value):
            JSONValue.writeInteger(value, to: &buffer)
        case .double(let value):
            JSONValue.writeDouble(value, to: &buffer)
        case .string(let value):
            JSONValue.writeString(value, to: &buffer)
        case .array(let elements):
            buffer.append(.jsonOpenBracket)
            var first = true
            for element in elements {
                if first { first = false } else { buffer.append(.jsonComma) }
                element.write(to: &buffer)
            }
            buffer.append(.jsonCloseBracket)
        case .object(let members):
            buffer.append(.jsonOpenBrace)
            if members.count == 1, let (key, value) = members.first {
                JSONValue.writeString(key, to: &buffer)
                buffer.append(.jsonColon)
                value.write(to: &buffer)
            } else if !members.isEmpty {
                let sorted = members.sorted { JSONValue.utf8Precedes($0.key, $1.key) }
                var first = true
                for (key, value) in sorted {
                    if first { first = false } else { buffer.append(.jsonComma) }
                    JSONValue.writeString(key, to: &buffer)
                    buffer.append(.jsonColon)
                    value.write(to: &buffer)
                }
            }
            buffer.append(.jsonCloseBrace)
        }
    }

    /// Appends a string as a JSON string literal: quotes around it, `"`, `\`
    /// and control characters escaped (`\n`, `\r`, `\t`, `\b`, `\f`, others as
    /// `\u00XX`), everything else written as raw UTF-8.
    ///
    /// For code that hand-builds JSON into the same kind of buffer as
    /// ``write(to:)``.
    ///
    /// - Parameters:
    ///   - s: The string to write.
    ///   - buffer: The buffer to append to.
    public static func writeString(_ s: String, to buffer: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            writeEscaped(bytes, to: &buffer)
        }
    }

    // MARK: - Helpers

    @inline(__always)
    static func appendLiteral(_ literal: StaticString, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Writes UTF-8 bytes as a quoted, escaped JSON string.
    static func writeEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout [UInt8]) {
        buffer.append(.jsonQuote)
        var runStart = 0
        for index in 0 ..< bytes.count {
            let byte = bytes[index]
            if byte >= 0x20 && byte != .jsonQuote && byte != .jsonBackslash {
                continue
            }
            if runStart < index {
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart ..< index]))
            }
            runStart = index + 1
            buffer.append(.jsonBackslash)
            switch byte {
            case .jsonQuote: buffer.append(.jsonQuote)
            case .jsonBackslash: buffer.append(.jsonBackslash)
            case 0x0A: buffer.append(0x6E) // n
            case 0x0D: buffer.append(0x72) // r
            case 0x09: buffer.append(0x74) // t
            case 0x08: buffer.append(0x62) // b
            case 0x0C: buffer.append(0x66) // f
            default:
                // \u00XX
                buffer.append(0x75)
                buffer.append(0x30)
                buffer.append(0x30)
                buffer.append(hexDigit(byte >> 4))
                buffer.append(hexDigit(byte & 0xF))
            }
        }
        if runStart < bytes.count {
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart ..< bytes.count]))
        }
        buffer.append(.jsonQuote)
    }

    @inline(__always)
    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x61 + nibble - 10
    }

    /// Writes an integer in decimal.
    static func writeInteger(_ value: Int64, to buffer: inout [UInt8]) {
        if value >= 0 && value < 10 {
            buffer.append(0x30 + UInt8(truncatingIfNeeded: value))
            return
        }
        if value < 0 {
            buffer.append(.jsonMinus)
        }
        var magnitude = value.magnitude
        var digitCount = 0
        var probe = magnitude
        repeat {
            digitCount += 1
            probe /= 10
        } while probe != 0
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0x30, count: digitCount))
        buffer.withUnsafeMutableBufferPointer { digits in
            var index = start + digitCount - 1
            repeat {
                digits[index] = 0x30 + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
                index -= 1
            } while magnitude != 0
        }
    }

    /// Writes a double in its shortest round-trip form, always with a `.` or
    /// exponent. Non-finite values (which JSON cannot represent and the parser
    /// never produces) are written as `null`.
    static func writeDouble(_ value: Double, to buffer: inout [UInt8]) {
        guard value.isFinite else {
            appendLiteral("null", to: &buffer)
            return
        }
        var text = value.description
        text.withUTF8 { bytes in
            buffer.append(contentsOf: bytes)
            // `description` always has a `.` or `e` for finite values; keep
            // the output a double even if that ever changes.
            if !bytes.contains(where: { $0 == .jsonDot || $0 == 0x65 || $0 == 0x45 }) {
                buffer.append(.jsonDot)
                buffer.append(.jsonZero)
            }
        }
    }

    /// `true` if `a` sorts before `b` by UTF-8 bytes.
    static func utf8Precedes(_ a: String, _ b: String) -> Bool {
        let fast = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in
                let common = min(left.count, right.count)
                var index = 0
                while index < common {
                    let l = left[index]
                    let r = right[index]
                    if l != r { return l < r }
                    index += 1
                }
                return left.count < right.count
            }
        }
        if let fast, let result = fast { return result }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}
