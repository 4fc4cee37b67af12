import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Subscribes to channels and patterns on a connection and thread of its own.
///
/// Events arrive on ``events``, an `AsyncStream`, so async code can iterate them
/// without ever blocking a cooperative thread: the socket is read only on the
/// subscriber's own thread, which waits with `poll` on the socket and on a wake-up
/// pipe. ``stop()`` returns at once; the thread ends without waiting on a read.
/// After a lost connection the subscriber reconnects with backoff and subscribes
/// again, reporting ``RedisSubscriberEvent/disconnected(_:)`` and then
/// ``RedisSubscriberEvent/subscribed(afterReconnect:)``. With a sentinel
/// configuration it subscribes on the primary the sentinels name at each connect.
public final class RedisSubscriber: @unchecked Sendable {
    // @unchecked Sendable: every mutable state lives in `control`, which locks it; the
    // connection lives only on the subscriber thread.
    private let configuration: RedisConfiguration
    private let channels: [String]
    private let patterns: [String]
    private let reconnectDelay: Duration
    private let continuation: AsyncStream<RedisSubscriberEvent>.Continuation
    private let control = SubscriberControl()

    /// Events, in order. The stream finishes after ``stop()``.
    public let events: AsyncStream<RedisSubscriberEvent>

    /// Creates a subscriber; call ``start()`` to connect.
    /// - Parameters:
    ///   - configuration: Where and how to connect.
    ///   - channels: Channels for `SUBSCRIBE`.
    ///   - patterns: Patterns for `PSUBSCRIBE`.
    ///   - reconnectDelay: The longest pause between reconnect attempts (backoff starts at 50 ms).
    public init(configuration: RedisConfiguration, channels: [String], patterns: [String] = [], reconnectDelay: Duration = .seconds(1)) {
        self.configuration = configuration
        self.channels = channels
        self.patterns = patterns
        self.reconnectDelay = reconnectDelay
        (events, continuation) = AsyncStream.makeStream(of: RedisSubscriberEvent.self, bufferingPolicy: .unbounded)
        // The stream's consumer going away stops the thread; the handler holds only
        // the control, so there is no cycle through the continuation.
        continuation.onTermination = { [control] _ in _ = control.stop() }
    }

    /// Starts the subscriber thread. Returns at once.
    public func start() {
        guard control.markStarted() else { return }
        let thread = Thread { [self] in run() }
        thread.name = "redis-subscriber"
        thread.start()
    }

    /// Stops the subscriber: the thread ends, the connection closes and ``events`` finishes.
    /// Returns at once; safe to call more than once and from any thread.
    public func stop() {
        let (wasStopped, wasStarted) = control.stop()
        if !wasStopped && !wasStarted { continuation.finish() }
    }

    private var stopped: Bool { control.isStopped }

    private func run() {
        var hadConnection = false
        var failures = 0
        while !stopped {
            do {
                let context = try HiredisContext(configuration: subscriptionAddress(afterFailures: failures))
                try subscribe(on: context)
                continuation.yield(.subscribed(afterReconnect: hadConnection))
                hadConnection = true
                failures = 0
                try receive(on: context)
            } catch {
                if stopped { break }
                continuation.yield(.disconnected(error))
                failures += 1
                let exponent = min(failures, 8)
                let backoff = min(reconnectDelay, .milliseconds(50) * (1 << (exponent - 1)))
                if waitForWakeUp(fileDescriptor: -1, timeout: backoff) { break }
            }
        }
        continuation.finish()
    }

    /// Where to subscribe: the primary the sentinels name, one Cluster node (every
    /// node hears every `PUBLISH`; each failure moves on to the next seed), or the
    /// configured server.
    private func subscriptionAddress(afterFailures failures: Int) throws(RedisError) -> RedisConfiguration {
        guard let cluster = configuration.cluster, !cluster.seeds.isEmpty else {
            return try RedisSentinelLocator.resolved(configuration)
        }
        var direct = configuration
        direct.cluster = nil
        direct.endpoint = cluster.seeds[failures % cluster.seeds.count]
        return direct
    }

    private func subscribe(on context: HiredisContext) throws(RedisError) {
        if let password = configuration.password {
            let auth = configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
            try context.append(auth)
            if case .error(let serverError) = try context.readReply() {
                throw RedisError(.authenticationFailed, "Redis refused the credentials (\(serverError.code))", serverError: serverError)
            }
        }
        var expected = 0
        if !channels.isEmpty {
            try context.append(RedisCommand("SUBSCRIBE", channels))
            expected += channels.count
        }
        if !patterns.isEmpty {
            try context.append(RedisCommand("PSUBSCRIBE", patterns))
            expected += patterns.count
        }
        for _ in 0..<expected {
            let reply = try context.readReply()
            if case .error(let serverError) = reply { throw RedisError(serverError) }
        }
    }

    private func receive(on context: HiredisContext) throws(RedisError) {
        while true {
            while let reply = try context.bufferedReply() {
                if let message = Self.message(from: reply) { continuation.yield(.message(message)) }
            }
            if waitForWakeUp(fileDescriptor: context.fileDescriptor, timeout: nil) { return }
            try context.readAvailable()
        }
    }

    /// Waits until the socket is readable (returns `false`) or `stop()` was called (returns `true`).
    private func waitForWakeUp(fileDescriptor: Int32, timeout: Duration?) -> Bool {
        var fds = [pollfd(fd: control.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        if fileDescriptor >= 0 { fds.append(pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0)) }
        let milliseconds = timeout.map { Int32($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? -1
        while true {
            let ready = poll(&fds, nfds_t(fds.count), milliseconds)
            if ready < 0 && errno == EINTR { continue }
            break
        }
        if fds[0].revents != 0 || stopped { return true }
        return false
    }

    private static func message(from reply: RedisReply) -> RedisPubSubMessage? {
        guard case .array(let parts) = reply, let kind = parts.first?.text else { return nil }
        switch kind {
        case "message" where parts.count == 3:
            guard let channel = parts[1].text, let payload = parts[2].bytes else { return nil }
            return RedisPubSubMessage(channel: channel, pattern: nil, payload: payload)
        case "pmessage" where parts.count == 4:
            guard let pattern = parts[1].text, let channel = parts[2].text, let payload = parts[3].bytes else { return nil }
            return RedisPubSubMessage(channel: channel, pattern: pattern, payload: payload)
        default:
            return nil
        }
    }
}
