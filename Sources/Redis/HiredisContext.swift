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
/// A context whose socket failed (or whose hiredis error flag is set) is dead for good; ``failure`` keeps it.
final class HiredisContext {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects and applies the command timeout and keepalive. Blocks up to the connect timeout.
    init(configuration: RedisConfiguration) throws(RedisError) {
        context = try Self.open(configuration)
        fileDescriptor = CHiredis_contextFD(context)
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

    /// Makes the coming close abortive: the kernel drops whatever it has not
    /// delivered yet and resets the link, instead of retransmitting it.
    ///
    /// Used once a connection is given up on (a timeout, a reset, a protocol error,
    /// an abandonment). With an ordinary close, commands still in the kernel's send
    /// queue (the link was down when they were written) would keep being retransmitted
    /// and reach Redis once the link is back, seconds after the caller was told they
    /// had failed or had an unknown outcome: an old primary, back before the sentinels
    /// demote it, would apply a transaction that the new primary never sees.
    /// Setting it again (a connection abandoned after it failed) changes nothing.
    func discardUnsentOnClose() {
        var abortive = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fileDescriptor, SOL_SOCKET, SO_LINGER, &abortive, socklen_t(MemoryLayout<linger>.size))
    }

    /// Records `error` as this context's sticky failure and makes its close abortive.
    private func fail(_ error: RedisError) -> RedisError {
        ioFailure = error
        discardUnsentOnClose()
        return error
    }

    private static let ignoreSIGPIPEOnce: Void = CHiredis_ignoreSIGPIPE()

    /// The sticky error of this context, or `nil` while it is healthy.
    var failure: RedisError? { ioFailure ?? currentError(connecting: false) }

    /// The socket hiredis connected; OpsCore writes and reads it itself (and polls it).
    let fileDescriptor: Int32

    /// Queues commands in the output buffer, encoded as RESP here
    /// (``RedisCommand/appendRESP(to:)``, every argument with its length); nothing
    /// is sent until ``flush()``.
    func append(_ commands: [RedisCommand]) throws(RedisError) {
        if let ioFailure { throw ioFailure }
        for command in commands { command.appendRESP(to: &output) }
    }

    /// Queues one command (see ``append(_:)-([RedisCommand])``).
    func append(_ command: RedisCommand) throws(RedisError) {
        try append([command])
    }

    /// hiredis's own encoding of `command` (`redisFormatCommandArgv`): the reference
    /// the tests hold ``RedisCommand/appendRESP(to:)`` to, byte for byte.
    static func hiredisFormatted(_ command: RedisCommand) -> [UInt8] {
        let lengths = command.lengths
        var storage = command.storage
        storage.append(0)  // keeps the base pointer valid when every argument is empty
        return storage.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = []
            var offset = 0
            for length in lengths {
                argv.append(base + offset)
                offset += length
            }
            var formatted: UnsafeMutablePointer<CChar>?
            let count = redisFormatCommandArgv(&formatted, Int32(lengths.count), &argv, lengths)
            guard count >= 0, let formatted else { return [] }
            defer { redisFreeCommand(formatted) }
            return Array(UnsafeRawBufferPointer(start: formatted, count: Int(count)))
        }
    }

    /// The queued, unsent bytes, reused from pipeline to pipeline.
    private var output: [UInt8] = []
    /// A buffer grown past this (a large value) is not kept for the next pipeline.
    private static let keptOutputCapacity = 64 * 1024

    /// The next reply: one already read, or else the queued commands are sent and
    /// the socket is read until a whole reply is in.
    func readReply() throws(RedisError) -> RedisReply {
        try awaitReply { reader throws(RedisError) in try reader.next() }
    }

    /// ``readReply()``, but the reply is handed to `body` as its bytes in the read buffer.
    func readReplyBytes(_ body: (RedisReplyBytes) -> Void) throws(RedisError) {
        try awaitReply { reader throws(RedisError) in try reader.nextBytes(body) ? () : nil }
    }

    /// What `take` gets from the reader: at once when a reply is buffered, else after
    /// sending the queued commands and reading the socket until one is whole.
    private func awaitReply<Taken>(_ take: (inout RedisReplyReader) throws(RedisError) -> Taken?) throws(RedisError) -> Taken {
        if let taken = try buffered(take) { return taken }
        try flush()
        while true {
            try readAvailable()
            if let taken = try buffered(take) { return taken }
        }
    }

    /// `take` on the reader; a protocol error it throws is sticky, as a socket failure is.
    private func buffered<Taken>(_ take: (inout RedisReplyReader) throws(RedisError) -> Taken?) throws(RedisError) -> Taken? {
        if let ioFailure { throw ioFailure }
        do {
            return try take(&reader)
        } catch {
            throw fail(error)
        }
    }

    /// Writes the whole output buffer with `write` on the socket hiredis connected.
    /// Blocks up to the command timeout per write; a failure (a timeout, a reset, a
    /// closed socket) is sticky, as hiredis's error flag was.
    func flush() throws(RedisError) {
        if let ioFailure { throw ioFailure }
        guard !output.isEmpty else { return }
        let socket = fileDescriptor
        let failureCode: Int32 = output.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let count = write(socket, bytes.baseAddress! + offset, bytes.count - offset)
                if count > 0 {
                    offset += count
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    return count < 0 ? errno : EPIPE
                }
            }
            return 0
        }
        guard failureCode == 0 else {
            throw fail(Self.classify(code: REDIS_ERR_IO, text: String(cString: strerror(failureCode)), connecting: false))
        }
        output.removeAll(keepingCapacity: output.capacity <= Self.keptOutputCapacity)
    }

    /// Reads what the socket has (one `read`, blocking up to the command timeout
    /// when nothing has arrived) into the reply reader. A closed socket, a timeout
    /// or a read error is sticky: the context is dead, as hiredis would mark it.
    func readAvailable() throws(RedisError) {
        if let ioFailure { throw ioFailure }
        let socket = fileDescriptor
        while true {
            var code: Int32 = 0
            let count = reader.fill { room in
                let count = read(socket, room.baseAddress, room.count)
                code = errno
                return count
            }
            if count > 0 { return }
            if count < 0 && code == EINTR { continue }
            throw fail(count == 0
                ? Self.classify(code: REDIS_ERR_EOF, text: "Server closed the connection", connecting: false)
                : Self.classify(code: REDIS_ERR_IO, text: String(cString: strerror(code)), connecting: false))
        }
    }

    /// A reply already complete in the reader's buffer, without touching the socket.
    func bufferedReply() throws(RedisError) -> RedisReply? {
        try buffered { reader throws(RedisError) in try reader.next() }
    }

    /// Replies are read by OpsCore's own RESP reader from the socket hiredis connected.
    private var reader = RedisReplyReader()
    /// The sticky failure of a write or read (hiredis connects; its buffers, reader
    /// and error flag are not used after that).
    private var ioFailure: RedisError?

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
