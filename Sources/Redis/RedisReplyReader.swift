/// Turns the bytes a server sends into ``RedisReply`` values (RESP2), as they
/// arrive: a reply is returned once all of it is in, and bytes of the next one stay.
///
/// It does what hiredis's reader did, with one allocation per string or array
/// instead of a C reply tree copied and freed: ``next()`` first checks that a whole
/// reply is buffered (without allocating), then builds it. Anything that is not
/// RESP, arrays nested deeper than ``maximumDepth`` and bulk strings over
/// ``maximumBulkLength`` are protocol errors.
struct RedisReplyReader {
    /// The deepest nesting accepted (OpsCore's deepest reply, `XREADGROUP`'s, has 4 levels).
    static let maximumDepth = 16
    /// The longest bulk string accepted: Redis's own `proto-max-bulk-len` default.
    static let maximumBulkLength = 512 * 1024 * 1024
    /// Room made for each read from the socket.
    static let readSize = 16 * 1024
    /// An emptied buffer grown past this (a large reply) is given back.
    private static let keptCapacity = 256 * 1024

    /// Received bytes; `buffer[start..<end]` are not consumed yet.
    private var buffer = [UInt8](repeating: 0, count: readSize)
    private var start = 0
    private var end = 0

    /// Lets `body` write at most `room.count` new bytes at the end and keeps the
    /// count it returns (nothing when it returns 0 or less, as `read` does).
    mutating func fill(_ body: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        makeRoom()
        let written = buffer.withUnsafeMutableBytes { bytes in
            body(UnsafeMutableRawBufferPointer(rebasing: bytes[end...]))
        }
        if written > 0 { end += written }
        return written
    }

    /// Appends bytes (for decoding RESP held in memory).
    mutating func feed(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            offset += fill { room in
                let count = min(room.count, bytes.count - offset)
                room.copyBytes(from: bytes[offset..<offset + count])
                return count
            }
        }
    }

    /// The next whole reply, or `nil` while its bytes have not all arrived.
    /// - Throws: ``RedisError`` `protocolError` when the bytes are not RESP; the
    ///   reader is unusable afterwards, as the connection it reads.
    mutating func next() throws(RedisError) -> RedisReply? {
        guard start < end else { return nil }
        let (from, to) = (start, end)
        let parsed = try buffer.withUnsafeBufferPointer { bytes throws(RedisError) -> (RedisReply, Int)? in
            let window = UnsafeBufferPointer(rebasing: bytes[..<to])
            guard let replyEnd = try Self.scan(window, at: from, depth: 0) else { return nil }
            var position = from
            let reply = Self.decode(window, at: &position)
            assert(position == replyEnd)
            return (reply, replyEnd)
        }
        guard let (reply, replyEnd) = parsed else { return nil }
        consume(through: replyEnd)
        return reply
    }

    /// Hands the next whole reply to `body` as its RESP bytes, where they lie in the
    /// buffer (no ``RedisReply`` is built); `false` while its bytes have not all arrived.
    /// - Throws: ``RedisError`` `protocolError`, as ``next()``.
    mutating func nextBytes(_ body: (RedisReplyBytes) -> Void) throws(RedisError) -> Bool {
        guard start < end else { return false }
        let (from, to) = (start, end)
        let replyEnd = try buffer.withUnsafeBufferPointer { bytes throws(RedisError) -> Int in
            let window = UnsafeBufferPointer(rebasing: bytes[..<to])
            // An array of bulk strings (a hash's fields) is found whole and split in one pass.
            if let (replyEnd, elements) = Self.bulkStringArray(window, at: from) {
                body(RedisReplyBytes(UnsafeBufferPointer(rebasing: window[from..<replyEnd]), bulkStrings: elements))
                return replyEnd
            }
            guard let replyEnd = try Self.scan(window, at: from, depth: 0) else { return -1 }
            // Not an array of bulk strings (what the one pass above takes whole).
            body(RedisReplyBytes(UnsafeBufferPointer(rebasing: window[from..<replyEnd]), bulkStrings: nil))
            return replyEnd
        }
        guard replyEnd >= 0 else { return false }
        consume(through: replyEnd)
        return true
    }

    /// Drops the bytes of a reply that was taken, up to `replyEnd`.
    private mutating func consume(through replyEnd: Int) {
        start = replyEnd
        if start == end {
            start = 0
            end = 0
        }
    }

    /// The end and elements of the array of bulk strings at `index` when all of it
    /// is in `bytes` and well formed; `nil` otherwise (another reply, an incomplete
    /// one, or bad RESP), for ``scan(_:at:depth:)`` to judge.
    private static func bulkStringArray(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (Int, [UnsafeBufferPointer<UInt8>?])? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "*"),
              let countEnd = lineEnd(bytes, from: index + 1),
              let count = try? integer(bytes, index + 1, countEnd), count >= 0,
              count <= (bytes.count - countEnd) / 4  // each element takes at least 4 bytes
        else { return nil }
        var elements: [UnsafeBufferPointer<UInt8>?] = []
        elements.reserveCapacity(Int(count))
        var position = countEnd + 2
        for _ in 0..<count {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "$"),
                  let lengthEnd = lineEnd(bytes, from: position + 1),
                  let length = try? integer(bytes, position + 1, lengthEnd), length >= -1, length <= maximumBulkLength
            else { return nil }
            position = lengthEnd + 2
            if length == -1 {
                elements.append(nil)
                continue
            }
            let dataEnd = position + Int(length)
            guard dataEnd + 2 <= bytes.count, bytes[dataEnd] == UInt8(ascii: "\r"), bytes[dataEnd + 1] == UInt8(ascii: "\n") else {
                return nil
            }
            elements.append(UnsafeBufferPointer(rebasing: bytes[position..<dataEnd]))
            position = dataEnd + 2
        }
        return (position, elements)
    }

    /// Builds the reply that fills `bytes`, which ``scan(_:at:depth:)`` found whole and valid.
    static func reply(of bytes: UnsafeBufferPointer<UInt8>) -> RedisReply {
        var position = 0
        return decode(bytes, at: &position)
    }

    private mutating func makeRoom() {
        if start == end {
            start = 0
            end = 0
            if buffer.count > Self.keptCapacity { buffer = [UInt8](repeating: 0, count: Self.readSize) }
        }
        guard buffer.count - end < Self.readSize else { return }
        if start > 0 {
            // Move the unfinished reply to the front.
            let pending = end - start
            buffer.withUnsafeMutableBytes { bytes in
                bytes.baseAddress!.copyMemory(from: bytes.baseAddress! + start, byteCount: pending)
            }
            start = 0
            end = pending
        }
        if buffer.count - end < Self.readSize {
            buffer.append(contentsOf: repeatElement(0, count: max(buffer.count, Self.readSize)))
        }
    }

    // MARK: - RESP

    /// The index after the reply starting at `index`, `nil` when it is not all
    /// in `bytes` yet. Allocates nothing.
    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int, depth: Int) throws(RedisError) -> Int? {
        guard index < bytes.count else { return nil }
        guard let lineEnd = lineEnd(bytes, from: index + 1) else { return nil }
        let next = lineEnd + 2
        switch bytes[index] {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            return next
        case UInt8(ascii: ":"):
            _ = try integer(bytes, index + 1, lineEnd)
            return next
        case UInt8(ascii: "$"):
            let length = try integer(bytes, index + 1, lineEnd)
            if length == -1 { return next }
            guard length >= 0, length <= maximumBulkLength else {
                throw RedisError(.protocolError, "Protocol error: bulk string length \(length)")
            }
            let dataEnd = next + Int(length)
            guard dataEnd + 2 <= bytes.count else { return nil }
            guard bytes[dataEnd] == UInt8(ascii: "\r"), bytes[dataEnd + 1] == UInt8(ascii: "\n") else {
                throw RedisError(.protocolError, "Protocol error: bulk string not followed by CRLF")
            }
            return dataEnd + 2
        case UInt8(ascii: "*"):
            let count = try integer(bytes, index + 1, lineEnd)
            if count == -1 { return next }
            guard count >= 0 else { throw RedisError(.protocolError, "Protocol error: array length \(count)") }
            guard depth < maximumDepth else {
                throw RedisError(.protocolError, "Protocol error: arrays nested deeper than \(maximumDepth)")
            }
            var position = next
            for _ in 0..<count {
                guard let after = try scan(bytes, at: position, depth: depth + 1) else { return nil }
                position = after
            }
            return position
        default:
            throw RedisError(.protocolError, "Protocol error, got byte 0x\(String(bytes[index], radix: 16)) as reply type")
        }
    }

    /// Builds the reply at `index`, which ``scan(_:at:depth:)`` found whole and valid,
    /// and moves `index` past it.
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at index: inout Int) -> RedisReply {
        let type = bytes[index]
        let lineStart = index + 1
        let lineEnd = lineEnd(bytes, from: lineStart)!
        let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<lineEnd])
        index = lineEnd + 2
        switch type {
        case UInt8(ascii: "+"):
            return .status(String(decoding: line, as: UTF8.self))
        case UInt8(ascii: "-"):
            return .error(RedisServerError(reply: String(decoding: line, as: UTF8.self)))
        case UInt8(ascii: ":"):
            return .integer((try? integer(bytes, lineStart, lineEnd)) ?? 0)
        case UInt8(ascii: "$"):
            let length = Int((try? integer(bytes, lineStart, lineEnd)) ?? -1)
            guard length >= 0 else { return .null }
            let value = Array(UnsafeBufferPointer(rebasing: bytes[index..<index + length]))
            index += length + 2
            return .string(value)
        default:  // "*", the only other type scan lets through
            let count = Int((try? integer(bytes, lineStart, lineEnd)) ?? -1)
            guard count >= 0 else { return .null }
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(decode(bytes, at: &index)) }
            return .array(elements)
        }
    }

    /// The index of the CR of the first CRLF at or after `from`, `nil` when none is in yet.
    private static func lineEnd(_ bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        var index = from
        while index + 1 < bytes.count {
            if bytes[index] == UInt8(ascii: "\r") && bytes[index + 1] == UInt8(ascii: "\n") { return index }
            index += 1
        }
        return nil
    }

    /// The decimal integer in `bytes[from..<to]`: an optional minus and 1 to 19 digits.
    private static func integer(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) throws(RedisError) -> Int64 {
        var index = from
        let negative = index < to && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < to, to - index <= 19 else { throw RedisError(.protocolError, "Protocol error: bad integer") }
        var value: Int64 = 0
        while index < to {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw RedisError(.protocolError, "Protocol error: bad integer") }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { throw RedisError(.protocolError, "Protocol error: integer out of range") }
            value = sum
            index += 1
        }
        return negative ? -value : value
    }
}
