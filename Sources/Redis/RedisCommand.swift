/// A value that can be sent as one argument of a Redis command.
public protocol RedisArgument {
    /// The argument's bytes as they go on the wire.
    var redisBytes: [UInt8] { get }
    /// Appends the argument's bytes to a buffer (the default copies ``redisBytes``).
    func appendRedisBytes(to buffer: inout [UInt8])
}

extension RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: redisBytes)
    }
}

extension String: RedisArgument {
    public var redisBytes: [UInt8] { Array(utf8) }
    public func appendRedisBytes(to buffer: inout [UInt8]) {
        if utf8.withContiguousStorageIfAvailable({ buffer.append(contentsOf: $0) }) == nil {
            buffer.append(contentsOf: utf8)
        }
    }
}

extension Substring: RedisArgument {
    public var redisBytes: [UInt8] { Array(utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
    public var redisBytes: [UInt8] { self }
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension Int: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
    public func appendRedisBytes(to buffer: inout [UInt8]) { Int64(self).appendRedisBytes(to: &buffer) }
}

extension Int64: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
    /// Appends the decimal text without making a `String`.
    public func appendRedisBytes(to buffer: inout [UInt8]) {
        if self < 0 { buffer.append(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for any Int64
        var count = 0
        var rest = magnitude
        withUnsafeMutableBytes(of: &digits) { scratch in
            repeat {
                scratch[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(scratch[index]) }
        }
    }
}

/// One Redis command: its name and arguments, each an arbitrary byte string.
///
/// Commands are sent as RESP arrays of bulk strings with explicit lengths
/// (``appendRESP(to:)``, then one `write` per pipeline), so any byte (NUL, CR,
/// LF, invalid UTF-8) is sent as it is; no format string is ever built.
/// The arguments are stored back to back in one buffer with their lengths, so a
/// command costs two allocations however many arguments it has.
public struct RedisCommand: Sendable, Hashable {
    /// Every argument's bytes, the name first, back to back.
    private(set) var storage: [UInt8]
    /// The length of each argument in ``storage``.
    private(set) var lengths: [Int]

    /// Creates a command from a name and arguments.
    /// - Parameters:
    ///   - name: The command name, such as `HSET`.
    ///   - arguments: The arguments, each sent as one binary-safe bulk string.
    public init(_ name: String, _ arguments: any RedisArgument...) {
        self.init(name, arguments)
    }

    /// Creates a command from a name and an array of arguments.
    public init(_ name: String, _ arguments: [any RedisArgument]) {
        storage = []
        lengths = []
        lengths.reserveCapacity(arguments.count + 1)
        storage.reserveCapacity(64)
        append(name)
        for argument in arguments { append(argument) }
    }

    /// Creates a command of one byte-string argument (a key), as `HGETALL key`.
    public init(_ name: String, _ key: [UInt8]) {
        storage = []
        storage.reserveCapacity(name.utf8.count + key.count)
        name.appendRedisBytes(to: &storage)
        lengths = [storage.count, key.count]
        storage.append(contentsOf: key)
    }

    /// Creates a command from raw byte strings, the name first.
    public init(rawArguments: [[UInt8]]) {
        storage = rawArguments.flatMap { $0 }
        lengths = rawArguments.map(\.count)
    }

    /// Adds one argument at the end.
    public mutating func append(_ argument: some RedisArgument) {
        let before = storage.count
        argument.appendRedisBytes(to: &storage)
        lengths.append(storage.count - before)
    }

    /// The command name followed by its arguments, each as its own byte array.
    public var arguments: [[UInt8]] {
        var result: [[UInt8]] = []
        result.reserveCapacity(lengths.count)
        var offset = 0
        for length in lengths {
            result.append(Array(storage[offset..<offset + length]))
            offset += length
        }
        return result
    }

    /// The first argument (the key, for the commands OpsCore sends in transactions)
    /// as text, with invalid UTF-8 replaced; `nil` when there is no argument.
    public var firstArgumentText: String? {
        guard lengths.count > 1 else { return nil }
        let start = lengths[0]
        return String(decoding: storage[start..<start + lengths[1]], as: UTF8.self)
    }

    /// The first argument's bytes (the key, for most commands); `nil` when there is none.
    public var firstArgument: [UInt8]? {
        guard lengths.count > 1 else { return nil }
        let start = lengths[0]
        return Array(storage[start..<start + lengths[1]])
    }

    /// The command name, upper-cased, for logs and errors; arguments are never shown.
    public var name: String {
        String(decoding: storage.prefix(lengths.first ?? 0), as: UTF8.self).uppercased()
    }
}
