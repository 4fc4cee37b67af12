/// One connection to Redis.
///
/// **Every method blocks the calling thread** until Redis answers or the
/// configured timeout passes. Do not call them from Swift concurrency's
/// cooperative threads: use a thread of your own, or ``RedisConnectionPool``
/// from such a thread. A connection is used by one thread at a time.
///
/// Once a connection has failed at the socket level (closed, timed out,
/// protocol error) it stays failed: ``isBroken`` is `true` and every call throws.
public final class RedisConnection {
    private let context: HiredisContext
    /// The configuration this connection was made with.
    public let configuration: RedisConfiguration

    /// Connects, authenticates and selects the database. Blocks.
    /// - Parameter configuration: Where and how to connect.
    /// - Throws: ``RedisError``: `connectionFailed`, `timeout`, `authenticationFailed`, `serverError`.
    public init(configuration: RedisConfiguration) throws(RedisError) {
        self.configuration = configuration
        context = try HiredisContext(configuration: configuration)
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            if let username = configuration.username {
                setup.append(RedisCommand("AUTH", username, password))
            } else {
                setup.append(RedisCommand("AUTH", password))
            }
        }
        if configuration.database != 0 {
            setup.append(RedisCommand("SELECT", configuration.database))
        }
        guard !setup.isEmpty else { return }
        for reply in try pipeline(setup) {
            if case .error(let serverError) = reply {
                let error = RedisError(serverError)
                if error.kind == .authenticationFailed {
                    throw RedisError(.authenticationFailed, "Redis refused the credentials (\(serverError.code))", serverError: serverError)
                }
                throw error
            }
        }
    }

    /// Round trips made on this connection: one per ``send(_:)`` and one per ``pipeline(_:readOnly:)``.
    public private(set) var roundTrips = 0

    /// `true` once the connection has failed at the socket level; it cannot be used again.
    public var isBroken: Bool { context.failure != nil }

    /// Sends one command and waits for its reply. Blocks.
    /// - Parameter command: The command.
    /// - Returns: The reply; an error reply is thrown instead.
    /// - Throws: ``RedisError`` for socket failures and error replies.
    @discardableResult
    public func send(_ command: RedisCommand) throws(RedisError) -> RedisReply {
        if let failure = context.failure { throw failure }
        roundTrips += 1
        try context.append(command)
        return try context.readReply().throwingServerError()
    }

    /// Sends one command built from a name and arguments. Blocks.
    @discardableResult
    public func send(_ name: String, _ arguments: any RedisArgument...) throws(RedisError) -> RedisReply {
        try send(RedisCommand(name, arguments))
    }

    /// Sends all commands in one write and reads their replies in order. Blocks.
    ///
    /// Error replies are returned in place, not thrown, so each command's
    /// outcome can be inspected.
    /// - Parameters:
    ///   - commands: The commands, sent in this order.
    ///   - readOnly: Whether the commands change nothing, so that a socket failure
    ///     is marked ``RedisError/isSafeToRetry``.
    /// - Returns: One reply per command, in the same order.
    /// - Throws: ``RedisError`` for socket failures.
    public func pipeline(_ commands: [RedisCommand], readOnly: Bool = false) throws(RedisError) -> [RedisReply] {
        if var failure = context.failure {
            failure.isSafeToRetry = readOnly
            throw failure
        }
        roundTrips += 1
        do {
            for command in commands { try context.append(command) }
            var replies: [RedisReply] = []
            replies.reserveCapacity(commands.count)
            for _ in commands { replies.append(try context.readReply()) }
            return replies
        } catch {
            var failure = error
            failure.isSafeToRetry = readOnly
            throw failure
        }
    }
}
