/// Input checks applied before anything is sent to Redis.
enum SessionValidation {
    /// The largest serialized metadata object, in bytes.
    static let maximumMetadataBytes = 64 * 1024
    /// The longest agent or workflow id, in bytes.
    static let maximumIDBytes = 256

    /// Checks an agent or workflow id: 1 to 256 bytes of UTF-8, no control characters.
    static func checkIdentifier(_ value: String, field: String) throws(OpsCoreError) {
        let count = value.utf8.count
        guard count > 0 else { throw .invalidInput(field: field, reason: "must not be empty") }
        guard count <= maximumIDBytes else {
            throw .invalidInput(field: field, reason: "is \(count) bytes, longer than \(maximumIDBytes)")
        }
        // Fast path: printable ASCII has no control characters.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return }
        for scalar in value.unicodeScalars where scalar.properties.generalCategory == .control {
            throw .invalidInput(field: field, reason: "contains a control character (U+\(String(scalar.value, radix: 16, uppercase: true)))")
        }
    }

    /// Serializes metadata, refusing more than 64 KiB or nesting deeper than 64 levels
    /// (what the session hash reader accepts back).
    static func serializedMetadata(_ metadata: [String: JSONValue]) throws(OpsCoreError) -> [UInt8] {
        if JSONValue.object(metadata).nestsDeeper(than: JSONValue.maximumNestingDepth) {
            throw .invalidInput(field: "metadata", reason: "nests deeper than \(JSONValue.maximumNestingDepth) levels")
        }
        var bytes: [UInt8] = []
        JSONValue.object(metadata).write(to: &bytes)
        guard bytes.count <= maximumMetadataBytes else {
            throw .invalidInput(field: "metadata", reason: "is \(bytes.count) bytes serialized, more than \(maximumMetadataBytes)")
        }
        return bytes
    }

    /// Parses metadata JSON text that must be an object.
    static func parseMetadata(_ text: String) throws(OpsCoreError) -> [String: JSONValue] {
        guard text.utf8.count <= maximumMetadataBytes * 4 else {
            throw .invalidInput(field: "metadata", reason: "is larger than \(maximumMetadataBytes) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: text)
        } catch {
            throw .invalidInput(field: "metadata", reason: "is not valid JSON (\(error))")
        }
        guard case .object(let object) = value else {
            throw .invalidInput(field: "metadata", reason: "must be a JSON object")
        }
        return object
    }
}

extension Session {
    /// Parses metadata JSON text for callers such as the CLI: an object of at most 64 KiB,
    /// nesting at most 64 levels.
    /// - Throws: ``OpsCoreError/invalidInput(field:reason:)``.
    public static func parseMetadata(_ text: String) throws(OpsCoreError) -> [String: JSONValue] {
        let object = try SessionValidation.parseMetadata(text)
        _ = try SessionValidation.serializedMetadata(object)
        return object
    }
}
