import CoreMetrics
import Synchronization

/// Finds the current primary through Redis Sentinel and notices when it changes.
///
/// One locator exists per set of ``RedisSentinelSettings`` in a process, shared by
/// every connection made with them. It asks the sentinels in turn (each with a
/// short timeout) `SENTINEL get-master-addr-by-name` and keeps the answer until it
/// is invalidated: by a connection error or a `READONLY` reply on a connection to
/// that primary (``invalidate(generation:)``), or by a `+switch-master` message,
/// which a subscriber to every sentinel delivers. Each change of the primary bumps
/// ``generation``; a connection made in an older generation is stale and a pool
/// drops it instead of lending it again. Blocks the calling thread while asking.
public final class RedisSentinelLocator: Sendable {
    /// The settings this locator serves.
    public let settings: RedisSentinelSettings
    private let connectTimeout: Duration
    private let commandTimeout: Duration
    private let state = Mutex(State())
    private let currentGeneration = Atomic<Int>(0)

    private struct State {
        var primary: RedisConfiguration.Endpoint?
        /// The last primary ever found, to count changes (`opscore_redis_failovers_total`).
        var lastPrimary: RedisConfiguration.Endpoint?
        /// Sentinel indexes in asking order: the last one that answered first.
        var order: [Int] = []
        var isWatching = false
        var subscribers: [RedisSubscriber] = []
    }

    private static let registry = Mutex<[RedisSentinelSettings: RedisSentinelLocator]>([:])

    /// The process's locator for the configuration's sentinel settings.
    /// - Precondition: `configuration.sentinel` is set.
    public static func shared(for configuration: RedisConfiguration) -> RedisSentinelLocator {
        let settings = configuration.sentinel!
        return registry.withLock { locators in
            if let existing = locators[settings] { return existing }
            let made = RedisSentinelLocator(
                settings: settings,
                connectTimeout: min(configuration.connectTimeout, .seconds(1)),
                commandTimeout: min(configuration.commandTimeout, .seconds(1)))
            locators[settings] = made
            return made
        }
    }

    private init(settings: RedisSentinelSettings, connectTimeout: Duration, commandTimeout: Duration) {
        self.settings = settings
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        state.withLock { $0.order = Array(settings.sentinels.indices) }
    }

    /// Bumped each time the primary may have changed; connections remember the one they were made in.
    public var generation: Int { currentGeneration.load(ordering: .acquiring) }

    /// The primary last found, if it is still believed current.
    public var knownPrimary: RedisConfiguration.Endpoint? { state.withLock { $0.primary } }

    /// The current primary and the generation it belongs to, asking the sentinels
    /// when none is known. Blocks.
    ///
    /// When a `+switch-master` arrives while the sentinels are being asked, the
    /// announced primary wins over their answer, which may predate the failover.
    /// - Throws: ``RedisError`` `connectionFailed` when no sentinel answered or none
    ///   knows the master name; `authenticationFailed` when the sentinels refused the password.
    public func primary() throws(RedisError) -> (endpoint: RedisConfiguration.Endpoint, generation: Int) {
        let (known, generationBefore) = state.withLock { state in
            (state.primary, currentGeneration.load(ordering: .relaxed))
        }
        if let known { return (known, generationBefore) }
        let (found, answeredBy) = try ask()
        let chosen = state.withLock { state in
            state.order.removeAll { $0 == answeredBy }
            state.order.insert(answeredBy, at: 0)
            let now = currentGeneration.load(ordering: .relaxed)
            if now != generationBefore, let announced = state.primary {
                return (announced, now)
            }
            state.primary = found
            Self.noteFailover(from: state.lastPrimary, to: found)
            state.lastPrimary = found
            return (found, now)
        }
        startWatching()
        return chosen
    }

    /// `configuration` itself, or for a sentinel configuration a copy that points at
    /// the current primary (asking the sentinels when none is known). Blocks.
    public static func resolved(_ configuration: RedisConfiguration) throws(RedisError) -> RedisConfiguration {
        guard configuration.sentinel != nil else { return configuration }
        var direct = configuration
        direct.sentinel = nil
        direct.endpoint = try shared(for: configuration).primary().endpoint
        return direct
    }

    /// Forgets the primary found in `generation` (a connection to it failed or
    /// answered `READONLY`), so the next connection asks the sentinels again.
    /// Nothing happens when a newer generation is current already.
    public func invalidate(generation: Int) {
        state.withLock { state in
            guard currentGeneration.load(ordering: .relaxed) == generation else { return }
            state.primary = nil
            currentGeneration.add(1, ordering: .releasing)
        }
    }

    /// A sentinel announced that the primary moved to `endpoint`.
    func switched(to endpoint: RedisConfiguration.Endpoint) {
        state.withLock { state in
            guard state.primary != endpoint else { return }
            state.primary = endpoint
            Self.noteFailover(from: state.lastPrimary, to: endpoint)
            state.lastPrimary = endpoint
            currentGeneration.add(1, ordering: .releasing)
        }
    }

    /// Counts a change of primary in `opscore_redis_failovers_total`.
    private static func noteFailover(from old: RedisConfiguration.Endpoint?, to new: RedisConfiguration.Endpoint) {
        guard let old, old != new else { return }
        Counter(label: "opscore_redis_failovers_total").increment()
    }

    /// The configuration for talking to one sentinel.
    func sentinelConfiguration(_ endpoint: RedisConfiguration.Endpoint) -> RedisConfiguration {
        RedisConfiguration(endpoint: endpoint, password: settings.password, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
    }

    /// Asks each sentinel in turn; returns the first address given and who gave it.
    private func ask() throws(RedisError) -> (RedisConfiguration.Endpoint, Int) {
        let order = state.withLock { $0.order }
        var unknownName = 0
        var refusedAuthentication = 0
        var lastFailure = ""
        for index in order {
            let sentinel = settings.sentinels[index]
            do throws(RedisError) {
                let connection = try RedisConnection(configuration: sentinelConfiguration(sentinel))
                let reply = try connection.send(RedisCommand("SENTINEL", "get-master-addr-by-name", settings.masterName))
                guard case .array(let parts) = reply else {
                    unknownName += 1
                    continue
                }
                guard parts.count == 2, let host = parts[0].text, let port = parts[1].text.flatMap({ Int($0) }) else {
                    throw RedisError(.unexpectedReply, "sentinel answered get-master-addr-by-name with an unexpected reply")
                }
                return (.tcp(host: host, port: port), index)
            } catch {
                if error.kind == .authenticationFailed { refusedAuthentication += 1 }
                lastFailure = "\(RedisConfiguration.hostAndPort(sentinel)): \(error.message)"
            }
        }
        let asked = order.count
        if unknownName > 0 {
            throw RedisError(.connectionFailed, "no sentinel knows a primary named \(RedisError.quoted(settings.masterName)) (\(unknownName) of \(asked) sentinels answered that they do not)")
        }
        if refusedAuthentication == asked {
            throw RedisError(.authenticationFailed, "every sentinel refused the sentinel password")
        }
        throw RedisError(.connectionFailed, "no sentinel answered (\(asked) tried; last: \(lastFailure))")
    }

    /// Subscribes to `+switch-master` on every sentinel, once per locator.
    private func startWatching() {
        let subscribers: [RedisSubscriber]? = state.withLock { state in
            guard !state.isWatching else { return nil }
            state.isWatching = true
            state.subscribers = settings.sentinels.map {
                RedisSubscriber(configuration: sentinelConfiguration($0), channels: ["+switch-master"], reconnectDelay: .seconds(1))
            }
            return state.subscribers
        }
        guard let subscribers else { return }
        let masterName = settings.masterName
        for subscriber in subscribers {
            subscriber.start()
            Task.detached { [weak self] in
                for await event in subscriber.events {
                    guard case .message(let message) = event,
                          let endpoint = Self.newPrimary(in: message.payload, masterName: masterName) else { continue }
                    self?.switched(to: endpoint)
                }
            }
        }
    }

    /// Reads `<name> <old ip> <old port> <new ip> <new port>`; `nil` for another master.
    static func newPrimary(in payload: [UInt8], masterName: String) -> RedisConfiguration.Endpoint? {
        let words = String(decoding: payload, as: UTF8.self).split(separator: " ")
        guard words.count == 5, words[0] == masterName, let port = Int(words[4]) else { return nil }
        return .tcp(host: String(words[3]), port: port)
    }
}
