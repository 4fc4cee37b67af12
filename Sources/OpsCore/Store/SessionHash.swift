import Redis

/// The session hash's field names, and conversion between ``Session`` and the hash.
enum SessionHash {
    static let sessionID = "session_id"
    static let agentID = "agent_id"
    static let workflowID = "workflow_id"
    static let status = "status"
    static let startTime = "start_time"
    static let lastUpdatedTime = "last_updated_time"
    static let metadata = "metadata"
    static let version = "version"
    /// Every field, in the order the hash is written.
    static let names = [sessionID, agentID, workflowID, status, startTime, lastUpdatedTime, metadata, version]
    static let nameBytes = names.map { Array($0.utf8) }
    /// Versions stay below 2^53 so every JSON reader holds them exactly.
    static let maximumVersion: Int64 = 1 << 53 - 1

    /// All fields as HSET arguments (field, value, field, value, …).
    static func fields(of session: Session, metadataBytes: [UInt8]) -> [any RedisArgument] {
        [
            sessionID, session.id.text,
            agentID, session.agentID,
            workflowID, session.workflowID,
            status, session.status.rawValue,
            startTime, session.startTime.iso8601Bytes,
            lastUpdatedTime, session.lastUpdatedTime.iso8601Bytes,
            metadata, metadataBytes,
            version, session.version,
        ]
    }

    /// One field's raw value in an `HGETALL` reply, however corrupt the rest is.
    static func rawField(_ name: String, in reply: RedisReply) -> [UInt8]? {
        guard case .array(let pairs) = reply else { return nil }
        let wanted = Array(name.utf8)
        var index = 0
        while index + 1 < pairs.count {
            if pairs[index].bytes == wanted { return pairs[index + 1].bytes }
            index += 2
        }
        return nil
    }

    /// Reads a session from an `HGETALL` reply.
    /// - Returns: `nil` when the reply is empty (no such key).
    /// - Throws: ``OpsCoreError/corruptSession(key:field:reason:)`` naming the key and field.
    static func decode(_ reply: RedisReply, key: [UInt8]) throws(OpsCoreError) -> Session? {
        var keyText: String { String(decoding: key, as: UTF8.self) }
        let pairs: [RedisReply]
        switch reply {
        case .array(let elements): pairs = elements
        case .error(let serverError) where serverError.code == "WRONGTYPE":
            throw .corruptSession(key: keyText, field: "-", reason: "key is not a hash")
        case .error(let serverError):
            throw .redis(RedisError(serverError))
        default:
            throw .corruptSession(key: keyText, field: "-", reason: "unexpected reply to HGETALL")
        }
        if pairs.isEmpty { return nil }
        // The known fields' values, copied into one buffer and decoded from there.
        var joined: [UInt8] = []
        var ranges = [Range<Int>?](repeating: nil, count: names.count)
        var index = 0
        while index + 1 < pairs.count {
            if case .string(let name) = pairs[index], let value = pairs[index + 1].bytes,
               let slot = name.withUnsafeBufferPointer({ slot(of: $0) }) {
                ranges[slot] = joined.count..<joined.count + value.count
                joined += value
            }
            index += 2
        }
        return try joined.withUnsafeBufferPointer { buffer throws(OpsCoreError) -> Session in
            var values = FieldValues(repeating: nil)
            for slot in ranges.indices {
                if let range = ranges[slot] { values[slot] = UnsafeBufferPointer(rebasing: buffer[range]) }
            }
            return try decode(values, key: key)
        }
    }

    /// Reads a session from the elements of an `HGETALL` reply, lent by
    /// ``Redis/RedisConnection/send(_:readOnly:decoding:)`` where they lie in the read buffer.
    /// - Returns: `nil` when there are no elements (no such key).
    /// - Throws: ``OpsCoreError/corruptSession(key:field:reason:)`` naming the key and field.
    /// - Parameter expected: The id the key was made from, reused when the hash holds
    ///   exactly its text (saves parsing and allocating it again).
    static func decode(elements: [UnsafeBufferPointer<UInt8>?], key: [UInt8], expected: SessionID? = nil) throws(OpsCoreError) -> Session? {
        if elements.isEmpty { return nil }
        var values = FieldValues(repeating: nil)
        var index = 0
        while index + 1 < elements.count {
            if let name = elements[index], let slot = slot(of: name) { values[slot] = elements[index + 1] }
            index += 2
        }
        return try decode(values, key: key, expected: expected)
    }

    /// Each known field's value by its position in ``names``, `nil` where it is missing.
    private typealias FieldValues = InlineArray<8, UnsafeBufferPointer<UInt8>?>

    /// Checks and converts every field; the one place a session is read from a hash.
    private static func decode(_ values: FieldValues, key: [UInt8], expected: SessionID? = nil) throws(OpsCoreError) -> Session {
        var keyText: String { String(decoding: key, as: UTF8.self) }
        func required(_ slot: Int) throws(OpsCoreError) -> UnsafeBufferPointer<UInt8> {
            guard let value = values[slot] else {
                throw .corruptSession(key: keyText, field: names[slot], reason: "is missing")
            }
            return value
        }
        func text(_ slot: Int) throws(OpsCoreError) -> String {
            let bytes = try required(slot)
            // ASCII (every id and status) is valid UTF-8 as it is.
            if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
            guard let value = String(validating: bytes, as: UTF8.self) else {
                throw .corruptSession(key: keyText, field: names[slot], reason: "is not valid UTF-8")
            }
            return value
        }
        func identifier(_ slot: Int) throws(OpsCoreError) -> String {
            let value = try text(slot)
            do {
                try SessionValidation.checkIdentifier(value, field: names[slot])
            } catch {
                throw .corruptSession(key: keyText, field: names[slot], reason: "is not a valid id")
            }
            return value
        }
        func timestamp(_ slot: Int) throws(OpsCoreError) -> Timestamp {
            guard let value = Timestamp(iso8601: try required(slot)) else {
                throw .corruptSession(key: keyText, field: names[slot], reason: "is not an ISO-8601 UTC time with milliseconds")
            }
            return value
        }
        let idBytes = try required(Slot.sessionID)
        guard let id = expected.flatMap({ Self.isText(of: $0, idBytes) ? $0 : nil }) ?? SessionID(utf8: idBytes) else {
            throw .corruptSession(key: keyText, field: sessionID, reason: "is not a UUID")
        }
        let keyMatches = key.count > 36 && key[key.count - 37] == UInt8(ascii: ":")
            && key.withUnsafeBufferPointer { Self.isText(of: id, UnsafeBufferPointer(rebasing: $0.suffix(36))) }
        guard keyMatches else {
            throw .corruptSession(key: keyText, field: sessionID, reason: "does not match the key")
        }
        guard let statusValue = SessionStatus(rawValue: try text(Slot.status)) else {
            throw .corruptSession(key: keyText, field: status, reason: "is not a known status")
        }
        guard let versionValue = decimal(try required(Slot.version)), versionValue >= 1, versionValue < maximumVersion else {
            throw .corruptSession(key: keyText, field: version, reason: "is not an integer from 1 to 2^53 - 2")
        }
        let metadataValue: JSONValue
        do {
            metadataValue = try JSONValue(parsing: try required(Slot.metadata))
        } catch let error as OpsCoreError {
            throw error
        } catch {
            throw .corruptSession(key: keyText, field: metadata, reason: "is not valid JSON")
        }
        guard case .object(let metadataObject) = metadataValue else {
            throw .corruptSession(key: keyText, field: metadata, reason: "is not a JSON object")
        }
        return Session(
            id: id,
            agentID: try identifier(Slot.agentID),
            workflowID: try identifier(Slot.workflowID),
            status: statusValue,
            startTime: try timestamp(Slot.startTime),
            lastUpdatedTime: try timestamp(Slot.lastUpdatedTime),
            metadata: metadataObject,
            version: versionValue
        )
    }

    /// Whether `bytes` are exactly the text of `id`.
    private static func isText(of id: SessionID, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var text = id.text
        return text.withUTF8 { utf8 in
            guard utf8.count == bytes.count else { return false }
            for index in 0..<utf8.count where utf8[index] != bytes[index] { return false }
            return true
        }
    }

    /// Each field's position in ``names``.
    private enum Slot {
        static let sessionID = 0, agentID = 1, workflowID = 2, status = 3
        static let startTime = 4, lastUpdatedTime = 5, metadata = 6, version = 7
    }

    /// The position in ``names`` of a field name, `nil` for a field OpsCore does not write.
    private static func slot(of name: UnsafeBufferPointer<UInt8>) -> Int? {
        func equals(_ known: [UInt8]) -> Bool {
            for index in known.indices where known[index] != name[index] { return false }
            return true
        }
        // The names differ in length but for agent_id/metadata (8) and session_id/start_time (10).
        switch name.count {
        case 6: return equals(nameBytes[Slot.status]) ? Slot.status : nil
        case 7: return equals(nameBytes[Slot.version]) ? Slot.version : nil
        case 8:
            if equals(nameBytes[Slot.agentID]) { return Slot.agentID }
            return equals(nameBytes[Slot.metadata]) ? Slot.metadata : nil
        case 10:
            if equals(nameBytes[Slot.sessionID]) { return Slot.sessionID }
            return equals(nameBytes[Slot.startTime]) ? Slot.startTime : nil
        case 11: return equals(nameBytes[Slot.workflowID]) ? Slot.workflowID : nil
        case 17: return equals(nameBytes[Slot.lastUpdatedTime]) ? Slot.lastUpdatedTime : nil
        default: return nil
        }
    }

    /// A decimal integer of 1 to 18 digits, with an optional `+` (as `Int64(_:)` reads
    /// it); `nil` for anything else, negative numbers included.
    private static func decimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        let digits = bytes.first == UInt8(ascii: "+") ? bytes.dropFirst() : bytes[...]
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value: Int64 = 0
        for byte in digits {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + Int64(digit)
        }
        return value
    }
}
