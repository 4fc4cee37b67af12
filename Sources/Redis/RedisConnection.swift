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
    /// For a sentinel-found primary: the locator and the generation it was found in.
    private let topology: (locator: RedisSentinelLocator, generation: Int)?
    /// The configuration this connection was made with.
    public let configuration: RedisConfiguration

    /// Connects, authenticates and selects the database. Blocks.
    ///
    /// With ``RedisConfiguration/sentinel`` set, the address is the primary the
    /// sentinels name (``RedisSentinelLocator``), confirmed with `ROLE`; when that
    /// address cannot be reached or is not a primary, the sentinels are asked once more.
    /// - Parameter configuration: Where and how to connect.
    /// - Throws: ``RedisError``: `connectionFailed`, `timeout`, `authenticationFailed`, `serverError`.
    public init(configuration: RedisConfiguration) throws(RedisError) {
        do {
            (context, topology) = try Self.connect(configuration)
        } catch {
            // A server that refused the connection was sent nothing: the work may go elsewhere.
            var failure = error
            if failure.kind == .connectionFailed { failure.isSafeToRetry = true }
            throw failure
        }
        self.configuration = configuration
    }

    /// Opens the context, at the configured address or at the sentinels' primary.
    private static func connect(_ configuration: RedisConfiguration) throws(RedisError) -> (HiredisContext, (locator: RedisSentinelLocator, generation: Int)?) {
        guard configuration.cluster == nil else {
            throw RedisError(.invalidConfiguration, "a Redis Cluster is reached through RedisConnectionPool, which sends each command to the node owning its keys")
        }
        guard configuration.sentinel != nil else {
            return (try open(configuration, confirmingPrimary: false), nil)
        }
        let locator = RedisSentinelLocator.shared(for: configuration)
        var attempt = 0
        while true {
            attempt += 1
            let (endpoint, generation) = try locator.primary()
            var direct = configuration
            direct.sentinel = nil
            direct.endpoint = endpoint
            do {
                return (try open(direct, confirmingPrimary: true), (locator, generation))
            } catch where error.kind != .authenticationFailed && error.kind != .permissionDenied {
                locator.invalidate(generation: generation)
                if attempt >= 2 { throw error }
            }
        }
    }

    /// Opens a context and sends `AUTH`, `SELECT` and (for a sentinel-found address) `ROLE`.
    private static func open(_ configuration: RedisConfiguration, confirmingPrimary: Bool) throws(RedisError) -> HiredisContext {
        let context = try HiredisContext(configuration: configuration)
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
        if confirmingPrimary {
            setup.append(RedisCommand("ROLE"))
        }
        guard !setup.isEmpty else { return context }
        try context.append(setup)
        for command in setup {
            let reply = try context.readReply()
            if case .error(let serverError) = reply {
                let error = RedisError(serverError)
                if error.kind == .authenticationFailed {
                    throw RedisError(.authenticationFailed, "Redis refused the credentials (\(serverError.code))", serverError: serverError)
                }
                throw error
            }
            if command.name == "ROLE" {
                guard case .array(let parts) = reply, let role = parts.first?.text else {
                    throw RedisError(.unexpectedReply, "ROLE answered with an unexpected reply")
                }
                guard role == "master" else {
                    throw RedisError(.connectionFailed, "the server the sentinels named is a \(role), not the primary")
                }
            }
        }
        return context
    }

    /// When set (by ``RedisClusterRouter`` after an `ASK` redirection, so the connection
    /// leads to the node importing a slot), every command
    /// sent outside `MULTI` is preceded by `ASKING`, whose replies are dropped: Redis
    /// keeps the flag for one command only, except inside `MULTI`, where it lasts to `EXEC`.
    public internal(set) var isAsking = false {
        didSet { insideMulti = false }
    }
    /// While ``isAsking``: whether the commands sent so far left the connection inside `MULTI`.
    private var insideMulti = false

    /// Round trips made on this connection: one per ``send(_:)`` and one per ``pipeline(_:readOnly:)``.
    public private(set) var roundTrips = 0

    /// `true` once the connection has failed at the socket level, was abandoned, or
    /// leads to a server that is no longer the primary (see ``isStale``): a pool
    /// closes it instead of lending it again.
    public var isBroken: Bool { abandonment != nil || context.failure != nil || isStale }

    /// `true` when the connection was made to a sentinel-found primary and the
    /// sentinels have named another since (or a connection to it failed).
    public var isStale: Bool {
        guard let topology else { return false }
        return topology.locator.generation != topology.generation
    }

    /// The error that broke this connection, or `nil` while it is usable.
    private var failure: RedisError? { abandonment ?? context.failure }

    /// Marks the connection unusable from now on: every later call throws `error`,
    /// and a pool closes it instead of lending it again. Used when the server-side
    /// state of the connection (an open `MULTI`, a `WATCH`) is no longer certain.
    /// Its socket is closed abortively, so nothing still unsent can reach Redis later.
    /// - Parameter error: What later calls throw.
    public func abandon(_ error: RedisError) {
        if abandonment == nil { abandonment = error }
        context.discardUnsentOnClose()
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

    /// Sends one command and hands its reply to `body` as the RESP bytes in the read
    /// buffer, so a large reply is decoded without a ``RedisReply`` per element. Blocks.
    ///
    /// Error replies reach `body` too (``RedisReplyBytes/isError``), as in ``pipeline(_:readOnly:)``.
    /// - Parameters:
    ///   - readOnly: Whether the command only reads: a socket failure is then
    ///     ``RedisError/isSafeToRetry``.
    ///   - body: Decodes the reply; the bytes are valid only during the call.
    /// - Throws: ``RedisError`` for socket and protocol failures.
    public func send(_ command: RedisCommand, readOnly: Bool, decoding body: (RedisReplyBytes) -> Void) throws(RedisError) {
        try roundTrip(readOnly: readOnly) { () throws(RedisError) in
            if isAsking {
                if try appendAsking([command])[0] { _ = try context.readReply() }
            } else {
                try context.append(command)
            }
            var refusal: RedisReply?
            try context.readReplyBytes { bytes in
                if topology != nil, bytes.isError { refusal = bytes.reply }
                body(bytes)
            }
            if let refusal { noticeReplica(in: [refusal]) }
        }
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
        try roundTrip(readOnly: readOnly ?? commands.allSatisfy(\.isReadOnly)) { () throws(RedisError) in
            let asked: [Bool]
            if isAsking {
                asked = try appendAsking(commands)
            } else {
                try context.append(commands)
                asked = []
            }
            var replies: [RedisReply] = []
            replies.reserveCapacity(commands.count)
            for index in commands.indices {
                if index < asked.count && asked[index] { _ = try context.readReply() }
                replies.append(try context.readReply())
            }
            if topology != nil { noticeReplica(in: replies) }
            return replies
        }
    }

    /// One round trip: refused at once on a failed connection; a failure is marked
    /// ``RedisError/isSafeToRetry`` when the commands only read, and a Sentinel
    /// topology is told of a broken link.
    private func roundTrip<Result>(readOnly: Bool, _ work: () throws(RedisError) -> Result) throws(RedisError) -> Result {
        if var failure {
            failure.isSafeToRetry = readOnly
            throw failure
        }
        roundTrips += 1
        do {
            return try work()
        } catch {
            if let topology, error.isConnectionError {
                topology.locator.invalidate(generation: topology.generation)
            }
            var failure = error
            failure.isSafeToRetry = readOnly
            throw failure
        }
    }

    private static let asking = RedisCommand("ASKING")

    /// Queues `commands` while ``isAsking``, each preceded by `ASKING` unless it is
    /// inside `MULTI` (where the flag lasts to `EXEC`). Returns, per command, whether
    /// an `ASKING` went before it, so that its reply can be skipped.
    private func appendAsking(_ commands: [RedisCommand]) throws(RedisError) -> [Bool] {
        var asked: [Bool] = []
        var wire: [RedisCommand] = []
        for command in commands {
            asked.append(!insideMulti)
            if !insideMulti { wire.append(Self.asking) }
            switch command.name {
            case "MULTI": insideMulti = true
            case "EXEC", "DISCARD": insideMulti = false
            default: break
            }
            wire.append(command)
        }
        try context.append(wire)
        return asked
    }

    /// A `READONLY` refusal means the sentinels' primary became a replica: the
    /// connection is abandoned and the sentinels are asked again.
    private func noticeReplica(in replies: [RedisReply]) {
        for reply in replies {
            guard case .error(let serverError) = reply, serverError.code == "READONLY" else { continue }
            abandon(RedisError(.connectionFailed, "the server is no longer the primary (READONLY)", serverError: serverError))
            if let topology { topology.locator.invalidate(generation: topology.generation) }
            return
        }
    }
}
