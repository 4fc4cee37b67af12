// A small, dependency-free JSON value type (RFC 8259).
//
// Parsing lives in JSONParser.swift, serialization in JSONWriter.swift and
// RFC 7386 merge patch in JSONValue+MergePatch.swift.

/// An immutable JSON value (RFC 8259).
///
/// Numbers are split in two cases: numbers written without fraction or
/// exponent that fit in `Int64` are ``integer(_:)``; every other number is
/// ``double(_:)``. The two cases never compare equal to each other, so
/// `.integer(1) != .double(1.0)`. A `JSONValue` produced by the parser never
/// holds a non-finite double; build values with finite doubles only, since
/// JSON has no representation for NaN or infinity.
///
/// Strings compare with Swift `String` semantics (Unicode canonical
/// equivalence), and object keys are Swift `String` dictionary keys.
///
/// Equality, hashing, serialization and deallocation of a value all recurse
/// over its nesting levels, which is one reason the parser limits nesting to
/// ``maximumNestingDepth`` by default.
public enum JSONValue: Sendable, Hashable {
    /// The JSON literal `null`.
    case null
    /// The JSON literals `true` and `false`.
    case bool(Bool)
    /// A number without fraction or exponent whose value fits in `Int64`.
    case integer(Int64)
    /// Any other number: with a fraction or exponent, or an integer outside
    /// the `Int64` range. Always finite.
    case double(Double)
    /// A JSON string.
    case string(String)
    /// A JSON array.
    case array([JSONValue])
    /// A JSON object. Key order is not kept; the writer sorts keys by their
    /// UTF-8 bytes.
    case object([String: JSONValue])
}

/// The error thrown when a JSON text cannot be parsed.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, e.g. `unexpected character 'x'`,
    /// `nesting deeper than 64 levels` or `invalid UTF-8`.
    public let message: String
    /// The byte offset in the input at which the problem was detected.
    public let offset: Int

    /// Creates a parse error.
    ///
    /// - Parameters:
    ///   - message: A description of the problem.
    ///   - offset: The byte offset in the input at which it was detected.
    public init(message: String, offset: Int) {
        self.message = message
        self.offset = offset
    }

    /// The message followed by the offset: `"\(message) at byte \(offset)"`.
    public var description: String { "\(message) at byte \(offset)" }
}

// MARK: - Convenience accessors

extension JSONValue {
    /// `true` if the value is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The Boolean if the value is ``bool(_:)``, else `nil`.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The integer if the value is ``integer(_:)``, else `nil`.
    ///
    /// Doubles are not converted, even when they hold a whole number.
    public var integerValue: Int64? {
        if case .integer(let i) = self { return i }
        return nil
    }

    /// The numeric value as a `Double` if the value is ``double(_:)`` or
    /// ``integer(_:)`` (converted, rounding to the nearest `Double` above
    /// 2^53), else `nil`.
    public var doubleValue: Double? {
        switch self {
        case .double(let d): return d
        case .integer(let i): return Double(i)
        default: return nil
        }
    }

    /// The string if the value is ``string(_:)``, else `nil`.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The elements if the value is ``array(_:)``, else `nil`.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The members if the value is ``object(_:)``, else `nil`.
    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The member named `key` if the value is an object that has it, else `nil`.
    ///
    /// - Parameters:
    ///   - key: The member name.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

// MARK: - CustomStringConvertible

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text of the value (same as ``jsonString``).
    public var description: String { jsonString }
}

// MARK: - Literals

extension JSONValue: ExpressibleByBooleanLiteral {
    /// Creates ``bool(_:)`` from a Boolean literal.
    ///
    /// - Parameters:
    ///   - value: The literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// Creates ``integer(_:)`` from an integer literal.
    ///
    /// - Parameters:
    ///   - value: The literal.
    public init(integerLiteral value: Int64) { self = .integer(value) }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// Creates ``double(_:)`` from a floating-point literal.
    ///
    /// - Parameters:
    ///   - value: The literal; must be finite.
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension JSONValue: ExpressibleByStringLiteral {
    /// Creates ``string(_:)`` from a string literal.
    ///
    /// - Parameters:
    ///   - value: The literal.
    public init(stringLiteral value: String) { self = .string(value) }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// Creates ``array(_:)`` from an array literal.
    ///
    /// - Parameters:
    ///   - elements: The elements.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Creates ``object(_:)`` from a dictionary literal; for duplicate keys the
    /// last value wins, as in the parser.
    ///
    /// - Parameters:
    ///   - elements: The key-value pairs.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
