extension RedisCommand {
    /// Appends the command as Redis sends it over the wire: a RESP array of bulk
    /// strings, each with its length, so any byte of an argument goes through as it is.
    ///
    /// The buffer grows once, by the encoded size, and is written through a pointer.
    func appendRESP(to buffer: inout [UInt8]) {
        var size = 1 + Self.decimalCount(lengths.count) + 2
        for length in lengths { size += 1 + Self.decimalCount(length) + 2 + length + 2 }
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: size))
        buffer.withUnsafeMutableBufferPointer { output in
            storage.withUnsafeBufferPointer { arguments in
                var at = start
                output[at] = UInt8(ascii: "*")
                at += 1
                Self.writeDecimal(lengths.count, to: output, at: &at)
                var offset = 0
                for length in lengths {
                    output[at] = UInt8(ascii: "$")
                    at += 1
                    Self.writeDecimal(length, to: output, at: &at)
                    if length > 0 {
                        (output.baseAddress! + at).update(from: arguments.baseAddress! + offset, count: length)
                    }
                    at += length
                    output[at] = UInt8(ascii: "\r")
                    output[at + 1] = UInt8(ascii: "\n")
                    at += 2
                    offset += length
                }
                assert(at == start + size)
            }
        }
    }

    /// How many decimal digits a non-negative count has.
    private static func decimalCount(_ value: Int) -> Int {
        var count = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            count += 1
        }
        return count
    }

    /// Writes a non-negative count in decimal, then CRLF, at `at`, and moves `at` past it.
    private static func writeDecimal(_ value: Int, to output: UnsafeMutableBufferPointer<UInt8>, at: inout Int) {
        let digits = decimalCount(value)
        var rest = value
        var index = at + digits - 1
        while index >= at {
            output[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            index -= 1
        }
        at += digits
        output[at] = UInt8(ascii: "\r")
        output[at + 1] = UInt8(ascii: "\n")
        at += 2
    }
}
