/// A value that can be sent as one argument of a Redis command.
public protocol RedisArgument {
    /// The argument's bytes as they go on the wire.
    var redisBytes: [UInt8] { get }
}

extension String: RedisArgument {
    public var redisBytes: [UInt8] { Array(utf8) }
}

extension Substring: RedisArgument {
    public var redisBytes: [UInt8] { Array(utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
    public var redisBytes: [UInt8] { self }
}

extension Int: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

extension Int64: RedisArgument {
    public var redisBytes: [UInt8] { Array(String(self).utf8) }
}

/// One Redis command: its name and arguments, each an arbitrary byte string.
///
/// Commands are sent with `redisAppendCommandArgv` and explicit lengths, so any
/// byte (NUL, CR, LF, invalid UTF-8) is sent as it is; no format string is ever built.
public struct RedisCommand: Sendable, Hashable {
    /// The command name followed by its arguments.
    public var arguments: [[UInt8]]

    /// Creates a command from a name and arguments.
    /// - Parameters:
    ///   - name: The command name, such as `HSET`.
    ///   - arguments: The arguments, each sent as one binary-safe bulk string.
    public init(_ name: String, _ arguments: any RedisArgument...) {
        self.init(name, arguments)
    }

    /// Creates a command from a name and an array of arguments.
    public init(_ name: String, _ arguments: [any RedisArgument]) {
        var all: [[UInt8]] = []
        all.reserveCapacity(arguments.count + 1)
        all.append(Array(name.utf8))
        for argument in arguments { all.append(argument.redisBytes) }
        self.arguments = all
    }

    /// Creates a command from raw byte strings, the name first.
    public init(rawArguments: [[UInt8]]) {
        self.arguments = rawArguments
    }

    /// The command name, upper-cased, for logs and errors; arguments are never shown.
    public var name: String {
        String(decoding: arguments.first ?? [], as: UTF8.self).uppercased()
    }
}
