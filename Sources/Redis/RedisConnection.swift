/// One connection to Redis.
///
/// **Every method blocks the calling thread** until Redis answers or the
/// configured timeout passes. Do not call them from Swift concurrency's
/// cooperative threads: use a thread of your own, or ``RedisConnectionPool``
/// from such a thread. A connection is used by one thread at a time.
///
/// Once a connection has failed at the socket level (closed, timed out,
/// protocol error), or was abandoned because its state could not be trusted
/// (see ``abandon(_:)``), it stays failed: ``isBroken`` is `true` and every call throws.
public final class RedisConnection {
    private let context: HiredisContext
    private var abandonment: RedisError?
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

    /// `true` once the connection has failed at the socket level or was abandoned; it cannot be used again.
    public var isBroken: Bool { abandonment != nil || context.failure != nil }

    /// The error that broke this connection, or `nil` while it is usable.
    private var failure: RedisError? { abandonment ?? context.failure }

    /// Marks the connection unusable from now on: every later call throws `error`,
    /// and a pool closes it instead of lending it again. Used when the server-side
    /// state of the connection (an open `MULTI`, a `WATCH`) is no longer certain.
    /// - Parameter error: What later calls throw.
    public func abandon(_ error: RedisError) {
        if abandonment == nil { abandonment = error }
    }

    /// Sends one command and waits for its reply. Blocks.
    ///
    /// A socket failure is marked ``RedisError/isSafeToRetry`` when the command only
    /// reads (``RedisCommand/isReadOnly``), so a pool retries it on a fresh connection.
    /// - Parameter command: The command.
    /// - Returns: The reply; an error reply is thrown instead.
    /// - Throws: ``RedisError`` for socket failures and error replies.
    @discardableResult
    public func send(_ command: RedisCommand) throws(RedisError) -> RedisReply {
        try pipeline([command], readOnly: command.isReadOnly)[0].throwingServerError()
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
    ///     is marked ``RedisError/isSafeToRetry``; by default, whether every command
    ///     is ``RedisCommand/isReadOnly``.
    /// - Returns: One reply per command, in the same order.
    /// - Throws: ``RedisError`` for socket failures.
    public func pipeline(_ commands: [RedisCommand], readOnly: Bool? = nil) throws(RedisError) -> [RedisReply] {
        let readOnly = readOnly ?? commands.allSatisfy(\.isReadOnly)
        if var failure {
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
