/// A reply from Redis, copied out of hiredis into Swift memory.
///
/// The six cases match hiredis 0.14's six reply types. A reply value owns its
/// bytes: no hiredis memory outlives the call that produced it.
public enum RedisReply: Sendable, Hashable {
    /// A bulk string: arbitrary bytes, binary safe.
    case string([UInt8])
    /// A status reply such as `OK` or `QUEUED`.
    case status(String)
    /// An integer reply.
    case integer(Int64)
    /// The null bulk string or null array.
    case null
    /// A multi-bulk reply.
    case array([RedisReply])
    /// An error reply, split into its code and message.
    case error(RedisServerError)
}

extension RedisReply {
    /// The bytes of a bulk string or status reply, else `nil`.
    public var bytes: [UInt8]? {
        switch self {
        case .string(let bytes): return bytes
        case .status(let text): return Array(text.utf8)
        default: return nil
        }
    }

    /// The reply as text when it is a bulk string or status holding valid UTF-8, else `nil`.
    public var text: String? {
        switch self {
        case .string(let bytes): return String(validating: bytes, as: UTF8.self)
        case .status(let text): return text
        default: return nil
        }
    }

    /// The integer of an integer reply, or of a bulk string holding a decimal integer.
    public var integer: Int64? {
        switch self {
        case .integer(let value): return value
        case .string(let bytes): return String(validating: bytes, as: UTF8.self).flatMap { Int64($0) }
        default: return nil
        }
    }

    /// The elements of an array reply, else `nil`.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// `true` for the null reply.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The reply itself, or the server error it carries thrown as a ``RedisError``.
    /// - Throws: ``RedisError`` of kind `serverError`, `authenticationFailed` or `permissionDenied`.
    public func throwingServerError() throws(RedisError) -> RedisReply {
        if case .error(let serverError) = self { throw RedisError(serverError) }
        return self
    }
}

extension RedisReply {
    /// A flat `[name, value, name, value, …]` array reply (`HGETALL`, `XINFO`,
    /// `SENTINEL MASTER`) as a dictionary by name; `nil` when the reply is no array.
    /// Elements whose name is not text are skipped; a later duplicate name wins.
    public var fieldMap: [String: RedisReply]? {
        guard let items = array else { return nil }
        var fields: [String: RedisReply] = [:]
        var index = 0
        while index + 1 < items.count {
            if let name = items[index].text { fields[name] = items[index + 1] }
            index += 2
        }
        return fields
    }
}
