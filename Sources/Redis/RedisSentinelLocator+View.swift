/// What one sentinel reports about the monitored primary, for health checks.
public struct RedisSentinelView: Sendable {
    /// The sentinel that answered.
    public var sentinel: RedisConfiguration.Endpoint
    /// Sentinels configured that did not answer (every one is tried).
    public var unreachableSentinels: [RedisConfiguration.Endpoint]
    /// The primary's address.
    public var primary: RedisConfiguration.Endpoint
    /// The primary's flags: `master`, or with `s_down`, `o_down`….
    public var primaryFlags: String
    /// Each replica's address and flags (`slave`, or with `s_down`, `disconnected`…).
    public var replicas: [(endpoint: RedisConfiguration.Endpoint, flags: String)]
    /// Other sentinels this one knows of.
    public var otherSentinels: Int
    /// The quorum configured for the primary.
    public var quorum: Int
    /// `SENTINEL CKQUORUM`'s verdict: `nil` when enough sentinels can authorize a failover, else its message.
    public var quorumProblem: String?
}

extension RedisSentinelLocator {
    /// Asks the sentinels in turn for their view of the primary, its replicas and
    /// the quorum (`SENTINEL MASTER`, `SENTINEL REPLICAS`, `SENTINEL CKQUORUM`). Blocks.
    /// - Throws: ``RedisError`` when no sentinel answers or none knows the master name.
    public func view() throws(RedisError) -> RedisSentinelView {
        var unreachable: [RedisConfiguration.Endpoint] = []
        var lastError = RedisError(.connectionFailed, "no sentinel configured")
        for sentinel in settings.sentinels {
            do throws(RedisError) {
                let connection = try RedisConnection(configuration: sentinelConfiguration(sentinel))
                let replies = try connection.pipeline([
                    RedisCommand("SENTINEL", "MASTER", settings.masterName),
                    RedisCommand("SENTINEL", "REPLICAS", settings.masterName),
                    RedisCommand("SENTINEL", "CKQUORUM", settings.masterName),
                ], readOnly: true)
                let master = try Self.textFields(replies[0].throwingServerError())
                guard let host = master["ip"], let port = master["port"].flatMap({ Int($0) }) else {
                    throw RedisError(.unexpectedReply, "SENTINEL MASTER lacks ip or port")
                }
                var replicas: [(endpoint: RedisConfiguration.Endpoint, flags: String)] = []
                for reply in try replies[1].throwingServerError().array ?? [] {
                    let fields = try Self.textFields(reply)
                    guard let host = fields["ip"], let port = fields["port"].flatMap({ Int($0) }) else { continue }
                    replicas.append((.tcp(host: host, port: port), fields["flags"] ?? ""))
                }
                var quorumProblem: String?
                if case .error(let refusal) = replies[2] { quorumProblem = refusal.description }
                // The sentinels not asked yet: do they answer at all?
                for other in settings.sentinels where other != sentinel && !unreachable.contains(other) {
                    let answered = try? RedisConnection(configuration: sentinelConfiguration(other)).send(RedisCommand("PING"))
                    if answered == nil { unreachable.append(other) }
                }
                return RedisSentinelView(
                    sentinel: sentinel, unreachableSentinels: unreachable, primary: .tcp(host: host, port: port),
                    primaryFlags: master["flags"] ?? "", replicas: replicas,
                    otherSentinels: master["num-other-sentinels"].flatMap { Int($0) } ?? 0,
                    quorum: master["quorum"].flatMap { Int($0) } ?? 0, quorumProblem: quorumProblem)
            } catch {
                if error.isConnectionError { unreachable.append(sentinel) }
                lastError = error
            }
        }
        throw lastError
    }

    /// A flat field list with text values.
    private static func textFields(_ reply: RedisReply) throws(RedisError) -> [String: String] {
        guard let fields = reply.fieldMap else { throw RedisError(.unexpectedReply, "a sentinel answered with no field list") }
        return fields.compactMapValues(\.text)
    }
}
