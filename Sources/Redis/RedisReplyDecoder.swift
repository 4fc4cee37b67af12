internal import CHiredis

/// Decodes RESP bytes held in memory into ``RedisReply`` values, with the reader
/// connections use (``RedisReplyReader``); hiredis's own reader is kept as the
/// reference the tests compare it with.
///
/// Every `redisReply` that hiredis hands out passes through ``consume(_:)``,
/// which frees it exactly once, after the copy.
public enum RedisReplyDecoder {
    /// Copies the reply tree and frees it.
    static func consume(_ raw: UnsafeMutableRawPointer) -> RedisReply {
        defer { freeReplyObject(raw) }
        return copy(raw.assumingMemoryBound(to: redisReply.self))
    }

    private static func copy(_ reply: UnsafePointer<redisReply>) -> RedisReply {
        switch CHiredis_replyType(reply) {
        case REDIS_REPLY_STRING:
            return .string(bytes(reply))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(reply), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(RedisServerError(reply: String(decoding: bytes(reply), as: UTF8.self)))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(CHiredis_replyInteger(reply)))
        case REDIS_REPLY_ARRAY:
            let count = CHiredis_replyElementCount(reply)
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(copy(CHiredis_replyElement(reply, index)))
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func bytes(_ reply: UnsafePointer<redisReply>) -> [UInt8] {
        let length = CHiredis_replyLength(reply)
        guard length > 0, let start = CHiredis_replyString(reply) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: length))
    }

    /// Decodes raw RESP bytes as a connection reads them, without any server.
    ///
    /// - Parameter resp: Bytes as a Redis server would send them.
    /// - Returns: Every complete reply in `resp`, in order.
    /// - Throws: ``RedisError`` of kind `protocolError` when the bytes are not RESP.
    public static func decode(resp: [UInt8]) throws(RedisError) -> [RedisReply] {
        var reader = RedisReplyReader()
        reader.feed(resp)
        var replies: [RedisReply] = []
        while let reply = try reader.next() { replies.append(reply) }
        return replies
    }

    /// Decodes raw RESP bytes with hiredis's own reader: the reference for ``decode(resp:)``.
    static func hiredisDecode(resp: [UInt8]) throws(RedisError) -> [RedisReply] {
        if resp.isEmpty { return [] }
        guard let reader = redisReaderCreate() else {
            throw RedisError(.ioFailure, "could not allocate a hiredis reader")
        }
        defer { redisReaderFree(reader) }
        let fed = resp.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(buffer.count, 1)) {
                redisReaderFeed(reader, $0, buffer.count)
            }
        }
        guard fed == REDIS_OK else { throw RedisError(.protocolError, "reader refused the input") }
        var replies: [RedisReply] = []
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
                throw RedisError(.protocolError, "input is not valid RESP")
            }
            guard let raw else { return replies }
            replies.append(consume(raw))
        }
    }
}
