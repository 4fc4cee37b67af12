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
        // Field values by position in `names`; unknown fields are ignored.
        var values = [[UInt8]?](repeating: nil, count: names.count)
        var index = 0
        while index + 1 < pairs.count {
            if case .string(let name) = pairs[index], let slot = nameBytes.firstIndex(of: name) {
                values[slot] = pairs[index + 1].bytes
            }
            index += 2
        }
        func required(_ name: String) throws(OpsCoreError) -> [UInt8] {
            guard let value = values[names.firstIndex(of: name)!] else {
                throw .corruptSession(key: keyText, field: name, reason: "is missing")
            }
            return value
        }
        func text(_ name: String) throws(OpsCoreError) -> String {
            let bytes = try required(name)
            guard let value = String(validating: bytes, as: UTF8.self) else {
                throw .corruptSession(key: keyText, field: name, reason: "is not valid UTF-8")
            }
            return value
        }
        func identifier(_ name: String) throws(OpsCoreError) -> String {
            let value = try text(name)
            do {
                try SessionValidation.checkIdentifier(value, field: name)
            } catch {
                throw .corruptSession(key: keyText, field: name, reason: "is not a valid id")
            }
            return value
        }
        func timestamp(_ name: String) throws(OpsCoreError) -> Timestamp {
            guard let value = Timestamp(iso8601: try required(name)) else {
                throw .corruptSession(key: keyText, field: name, reason: "is not an ISO-8601 UTC time with milliseconds")
            }
            return value
        }
        guard let id = SessionID(try text(sessionID)) else {
            throw .corruptSession(key: keyText, field: sessionID, reason: "is not a UUID")
        }
        guard key.count > 36, key[key.count - 37] == UInt8(ascii: ":"), key.suffix(36).elementsEqual(id.text.utf8) else {
            throw .corruptSession(key: keyText, field: sessionID, reason: "does not match the key")
        }
        guard let statusValue = SessionStatus(rawValue: try text(status)) else {
            throw .corruptSession(key: keyText, field: status, reason: "is not a known status")
        }
        guard let versionValue = Int64(try text(version)), versionValue >= 1, versionValue < maximumVersion else {
            throw .corruptSession(key: keyText, field: version, reason: "is not an integer from 1 to 2^53 - 2")
        }
        let metadataValue: JSONValue
        do {
            metadataValue = try JSONValue(parsing: try required(metadata))
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
            agentID: try identifier(agentID),
            workflowID: try identifier(workflowID),
            status: statusValue,
            startTime: try timestamp(startTime),
            lastUpdatedTime: try timestamp(lastUpdatedTime),
            metadata: metadataObject,
            version: versionValue
        )
    }
}
