extension RedisCommand {
    /// Appends the command as Redis sends it over the wire: a RESP array of bulk
    /// strings, each with its length, so any byte of an argument goes through as it is.
    func appendRESP(to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "*"))
        Self.appendDecimal(lengths.count, to: &buffer)
        storage.withUnsafeBufferPointer { bytes in
            var offset = 0
            for length in lengths {
                buffer.append(UInt8(ascii: "$"))
                Self.appendDecimal(length, to: &buffer)
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[offset..<offset + length]))
                buffer.append(UInt8(ascii: "\r"))
                buffer.append(UInt8(ascii: "\n"))
                offset += length
            }
        }
    }

    /// Appends a non-negative count in decimal, then CRLF.
    private static func appendDecimal(_ value: Int, to buffer: inout [UInt8]) {
        if value < 10 {
            buffer.append(UInt8(ascii: "0") + UInt8(value))
        } else {
            var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for any Int
            var count = 0
            var rest = value
            withUnsafeMutableBytes(of: &digits) { scratch in
                while rest > 0 {
                    scratch[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                    count += 1
                }
                for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(scratch[index]) }
            }
        }
        buffer.append(UInt8(ascii: "\r"))
        buffer.append(UInt8(ascii: "\n"))
    }
}
