/// One whole reply as the RESP bytes the server sent, lent while they are still in
/// the connection's read buffer (``RedisConnection/send(_:readOnly:decoding:)``).
///
/// Valid only inside the closure it is handed to: copy out what must outlive it.
/// It lets a caller decode a large reply (a hash's fields) straight from the
/// buffer, with no ``RedisReply`` tree allocated and freed per field.
public struct RedisReplyBytes {
    /// The reply's bytes, its type byte first.
    public let bytes: UnsafeBufferPointer<UInt8>

    /// The elements of an array of bulk strings, each pointing into ``bytes`` (`nil`
    /// for a null element); `nil` when the reply is something else.
    public let bulkStrings: [UnsafeBufferPointer<UInt8>?]?

    init(_ bytes: UnsafeBufferPointer<UInt8>, bulkStrings: [UnsafeBufferPointer<UInt8>?]?) {
        self.bytes = bytes
        self.bulkStrings = bulkStrings
    }

    /// The reply built as a ``RedisReply`` (allocating as ``RedisConnection/send(_:)`` does).
    public var reply: RedisReply { RedisReplyReader.reply(of: bytes) }

    /// Whether the reply is an error reply.
    public var isError: Bool { bytes.first == UInt8(ascii: "-") }
}
