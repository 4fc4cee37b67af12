internal import CHiredis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one owner of a hiredis `redisContext`: every hiredis call on a context is here.
///
/// Not thread safe: one thread uses a context at a time. Every method blocks the
/// calling thread on the socket (bounded by the timeouts set at connect).
/// A context whose hiredis error flag is set is dead for good; ``failure`` keeps it.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects and applies the command timeout and keepalive. Blocks up to the connect timeout.
    init(configuration: RedisConfiguration) throws(RedisError) {
        context = try Self.open(configuration)
    }

    /// Makes a connected context, or frees the half-made one and throws.
    private static func open(_ configuration: RedisConfiguration) throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        HiredisContext.ignoreSIGPIPEOnce
        let connectTimeout = makeTimeval(configuration.connectTimeout)
        let made: UnsafeMutablePointer<redisContext>?
        switch configuration.endpoint {
        case .tcp(let host, let port):
            made = redisConnectWithTimeout(host, Int32(port), connectTimeout)
        case .unixSocket(let path):
            made = redisConnectUnixWithTimeout(path, connectTimeout)
        }
        guard let made else {
            throw RedisError(.ioFailure, "could not allocate a hiredis context")
        }
        if let error = error(of: made, connecting: true) {
            redisFree(made)
            throw error
        }
        guard redisSetTimeout(made, makeTimeval(configuration.commandTimeout)) == REDIS_OK else {
            let error = error(of: made, connecting: true) ?? RedisError(.ioFailure, "could not set the socket timeout")
            redisFree(made)
            throw error
        }
        if configuration.keepAlive, case .tcp = configuration.endpoint {
            _ = redisEnableKeepAlive(made)
        }
        return made
    }

    deinit {
        redisFree(context)
    }

    private static let ignoreSIGPIPEOnce: Void = CHiredis_ignoreSIGPIPE()

    /// The sticky error of this context, or `nil` while it is healthy.
    var failure: RedisError? { currentError(connecting: false) }

    /// The socket, for `poll`.
    var fileDescriptor: Int32 { CHiredis_contextFD(context) }

    /// Queues a command in the output buffer; nothing is sent yet.
    func append(_ command: RedisCommand) throws(RedisError) {
        let status = Self.withArgv(command) { count, argv, lengths in
            redisAppendCommandArgv(context, count, argv, lengths)
        }
        if status != REDIS_OK {
            throw currentError(connecting: false) ?? RedisError(.ioFailure, "could not queue \(command.name)")
        }
    }

    /// Sends what is buffered (if anything), then blocks until one reply has arrived.
    func readReply() throws(RedisError) -> RedisReply {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
            throw currentError(connecting: false) ?? RedisError(.protocolError, "no reply")
        }
        return RedisReplyDecoder.consume(raw)
    }

    /// Writes the whole output buffer. Blocks up to the command timeout per write.
    func flush() throws(RedisError) {
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK {
                throw currentError(connecting: false) ?? RedisError(.ioFailure, "write failed")
            }
        }
    }

    /// Reads what the socket has into the reader. Call after `poll` reports the socket readable.
    func readAvailable() throws(RedisError) {
        if CHiredis_bufferRead(context) != REDIS_OK {
            throw currentError(connecting: false) ?? RedisError(.ioFailure, "read failed")
        }
    }

    /// A reply already complete in the reader's buffer, without touching the socket.
    func bufferedReply() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(context, &raw) == REDIS_OK else {
            throw currentError(connecting: false) ?? RedisError(.protocolError, "reader failed")
        }
        return raw.map(RedisReplyDecoder.consume)
    }

    private func currentError(connecting: Bool) -> RedisError? {
        Self.error(of: context, connecting: connecting)
    }

    private static func error(of context: UnsafeMutablePointer<redisContext>, connecting: Bool) -> RedisError? {
        let code = CHiredis_contextError(context)
        guard code != 0 else { return nil }
        let text = CHiredis_contextErrorString(context).map { String(cString: $0) } ?? "unknown error"
        return classify(code: code, text: text, connecting: connecting)
    }

    /// Maps a hiredis error code and text to a ``RedisError`` kind.
    static func classify(code: Int32, text: String, connecting: Bool) -> RedisError {
        switch code {
        case REDIS_ERR_EOF:
            return RedisError(.connectionClosed, "server closed the connection")
        case REDIS_ERR_PROTOCOL:
            return RedisError(.protocolError, text)
        case REDIS_ERR_IO:
            let lowered = text.lowercased()
            if lowered.contains("temporarily unavailable") || lowered.contains("timed out") {
                return RedisError(.timeout, connecting ? "connect timed out" : "no reply within the command timeout")
            }
            if connecting {
                return RedisError(.connectionFailed, text)
            }
            if lowered.contains("reset") || lowered.contains("broken pipe") {
                return RedisError(.connectionClosed, text)
            }
            return RedisError(.ioFailure, text)
        default:
            return RedisError(connecting ? .connectionFailed : .ioFailure, text)
        }
    }

    /// Calls `body` with argc, argv and lengths pointing into the command's one buffer.
    private static func withArgv<Result>(
        _ command: RedisCommand,
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result
    ) -> Result {
        let lengths = command.lengths
        var storage = command.storage
        if storage.isEmpty { storage.append(0) }  // keeps the base pointer valid for empty arguments
        return storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            return withUnsafeTemporaryAllocation(of: UnsafePointer<CChar>?.self, capacity: lengths.count) { argv in
                var offset = 0
                for (index, length) in lengths.enumerated() {
                    argv[index] = base + offset
                    offset += length
                }
                return lengths.withUnsafeBufferPointer { lengthBuffer in
                    body(Int32(lengths.count), argv.baseAddress!, lengthBuffer.baseAddress!)
                }
            }
        }
    }
}

private func makeTimeval(_ duration: Duration) -> timeval {
    let (seconds, attoseconds) = duration.components
    return timeval(tv_sec: Int(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
}

/// Facts about the C client underneath.
public enum Hiredis {
    /// The hiredis version this client was built against (Debian's `libhiredis-dev`), such as `0.14.1`.
    public static let version = "\(HIREDIS_MAJOR).\(HIREDIS_MINOR).\(HIREDIS_PATCH)"
}
