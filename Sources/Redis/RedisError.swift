/// An error from the Redis client that callers can branch on by ``kind``.
///
/// Descriptions never contain a password: configuration errors name the part of
/// the URL that is wrong, not its value.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a small extensible set of kinds.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The server could not be reached: connection refused, no route, no such socket file.
        public static let connectionFailed = Kind("connection failed")
        /// An established connection was closed or reset by the server or the network.
        public static let connectionClosed = Kind("connection closed")
        /// Connecting, or waiting for a reply, took longer than the configured timeout.
        public static let timeout = Kind("timeout")
        /// Another I/O error on the socket.
        public static let ioFailure = Kind("I/O failure")
        /// The server sent bytes that are not RESP.
        public static let protocolError = Kind("protocol error")
        /// The server answered with an error reply; see ``RedisError/serverError``.
        public static let serverError = Kind("server error")
        /// The server refused the credentials (`WRONGPASS`, `NOAUTH`, invalid password).
        public static let authenticationFailed = Kind("authentication failed")
        /// An ACL refused a command, key or channel (`NOPERM`).
        public static let permissionDenied = Kind("permission denied")
        /// Every attempt of a WATCH/MULTI/EXEC transaction was aborted by a concurrent write.
        public static let transactionConflict = Kind("transaction conflict")
        /// The server refused to queue a command of a transaction, or refused `EXEC`
        /// (`EXECABORT`): nothing of the transaction was applied.
        public static let transactionFailed = Kind("transaction failed")
        /// `EXEC` ran, but a command inside it failed: every other command of the
        /// transaction was applied. Never retried; see ``RedisError/failedCommand``.
        public static let partiallyApplied = Kind("partially applied")
        /// The connection broke after `EXEC` may have been sent: the change may or may not have committed.
        public static let outcomeUnknown = Kind("outcome unknown")
        /// The configuration or URL is not usable.
        public static let invalidConfiguration = Kind("invalid configuration")
        /// The server answered with a reply of an unexpected shape.
        public static let unexpectedReply = Kind("unexpected reply")
        /// The keys of one command or transaction span several Cluster slots: a
        /// programming error, refused before anything was sent.
        public static let crossSlot = Kind("cross-slot keys")
        /// The client was shut down.
        public static let shutDown = Kind("shut down")

        public var description: String { name }
    }

    /// What went wrong.
    public let kind: Kind
    /// A one-line explanation, free of credentials.
    public let message: String
    /// The server's error reply, when the server sent one.
    public let serverError: RedisServerError?
    /// `true` when the failure happened before anything that changes data was sent,
    /// so the same work may safely be tried again on a new connection.
    public internal(set) var isSafeToRetry: Bool
    /// For ``Kind/partiallyApplied``: the name of the command that failed inside `EXEC`.
    public internal(set) var failedCommand: String?
    /// For ``Kind/partiallyApplied``: the key (first argument) of that command, as text.
    public internal(set) var failedKey: String?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, serverError: RedisServerError? = nil, isSafeToRetry: Bool = false) {
        self.kind = kind
        self.message = message
        self.serverError = serverError
        self.isSafeToRetry = isSafeToRetry
    }

    /// Wraps a server error reply, classifying authentication and ACL refusals.
    public init(_ serverError: RedisServerError) {
        let kind: Kind
        switch serverError.code {
        case "NOAUTH", "WRONGPASS":
            kind = .authenticationFailed
        case "NOPERM":
            kind = .permissionDenied
        case "ERR" where serverError.message.hasPrefix("invalid password")
            || serverError.message.hasPrefix("invalid username-password")
            || serverError.message.hasPrefix("AUTH <password> called without"):
            kind = .authenticationFailed
        default:
            kind = .serverError
        }
        // A replica refuses a write before running it: nothing happened.
        self.init(kind, serverError.description, serverError: serverError, isSafeToRetry: serverError.code == "READONLY")
    }

    /// `true` for errors that mean the connection can no longer be used.
    public var isConnectionError: Bool {
        [.connectionFailed, .connectionClosed, .timeout, .ioFailure, .protocolError, .outcomeUnknown].contains(kind)
    }

    public var description: String { "\(kind): \(message)" }
}

extension RedisError {
    /// Quotes text (a key) for a one-line message, escaping quotes, backslashes and control characters.
    static func quoted(_ text: String) -> String {
        var result = "'"
        for scalar in text.unicodeScalars {
            switch scalar {
            case "'", "\\": result += "\\" + String(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: result += "\\x" + String(scalar.value, radix: 16)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "'"
    }
}

extension RedisError {
    /// Runs `body` (a pool call, whose closures may throw anything) and rethrows its
    /// ``RedisError`` as it is; any other error becomes an `unexpectedReply`.
    public static func rethrowing<Result>(_ body: () throws -> Result) throws(RedisError) -> Result {
        do {
            return try body()
        } catch let error as RedisError {
            throw error
        } catch {
            throw RedisError(.unexpectedReply, "\(error)")
        }
    }
}
