/// Where and how to connect to Redis.
///
/// Build one from a URL with ``init(url:)`` (`redis://[[user]:password@]host[:port][/db]`,
/// `unix:///path/to/redis.sock[?db=N]` or
/// `redis-sentinel://[[user]:password@]host[:port][,host[:port]…][/db]#master-name` or
/// `redis-cluster://[[user]:password@]host[:port][,host[:port]…]`)
/// or from its parts. ``description`` never shows a password.
public struct RedisConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// The server's address.
    public enum Endpoint: Sendable, Hashable {
        /// A TCP host name or IP address and port.
        case tcp(host: String, port: Int)
        /// A unix domain socket path.
        case unixSocket(path: String)
    }

    /// The server's address; unused when ``sentinel`` is set.
    public var endpoint: Endpoint
    /// When set, the primary is found through these sentinels instead of at ``endpoint``.
    public var sentinel: RedisSentinelSettings?
    /// When set, commands go to the cluster node owning their keys' slot instead of to ``endpoint``.
    public var cluster: RedisClusterSettings?
    /// The ACL user name (Redis 6 and later), or `nil` for the default user.
    public var username: String?
    /// The password, or `nil` when the server needs none.
    public var password: String?
    /// The logical database selected after connecting.
    public var database: Int
    /// How long connecting may take.
    public var connectTimeout: Duration
    /// How long any single read or write on the socket may take.
    public var commandTimeout: Duration
    /// Whether TCP keepalive is switched on for TCP connections.
    public var keepAlive: Bool

    /// Creates a configuration from its parts.
    public init(
        endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 6379),
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(5),
        keepAlive: Bool = true,
        sentinel: RedisSentinelSettings? = nil,
        cluster: RedisClusterSettings? = nil
    ) {
        self.endpoint = endpoint
        self.sentinel = sentinel
        self.cluster = cluster
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.keepAlive = keepAlive
    }

    /// The URL of this configuration with the password replaced by `***`.
    public var description: String { url(redactingPassword: true) }

    /// The configuration as a URL that ``init(url:)`` reads back.
    /// - Parameter redactingPassword: Whether to write `***` in place of the password.
    public func url(redactingPassword: Bool) -> String {
        var query: [String] = []
        if connectTimeout != .seconds(2) { query.append("connect_timeout=\(connectTimeout.secondsText)") }
        if commandTimeout != .seconds(5) { query.append("timeout=\(commandTimeout.secondsText)") }
        if let sentinel {
            if let secret = sentinel.password {
                query.append("sentinel_password=" + (redactingPassword ? "***" : RedisURL.percentEncode(secret)))
            }
            let hosts = sentinel.sentinels.map(Self.hostAndPort).joined(separator: ",")
            return "redis-sentinel://\(credentials(redactingPassword: redactingPassword))\(hosts)/\(database)"
                + (query.isEmpty ? "" : "?" + query.joined(separator: "&")) + "#" + RedisURL.percentEncode(sentinel.masterName)
        }
        if let cluster {
            let hosts = cluster.seeds.map(Self.hostAndPort).joined(separator: ",")
            return "redis-cluster://\(credentials(redactingPassword: redactingPassword))\(hosts)"
                + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }
        switch endpoint {
        case .unixSocket(let path):
            if database != 0 { query.insert("db=\(database)", at: 0) }
            return "unix://\(path)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        case .tcp:
            return "redis://\(credentials(redactingPassword: redactingPassword))\(Self.hostAndPort(endpoint))/\(database)"
                + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        }
    }

    /// `user:password@` (percent-encoded), or nothing without credentials.
    private func credentials(redactingPassword: Bool) -> String {
        guard username != nil || password != nil else { return "" }
        var text = RedisURL.percentEncode(username ?? "")
        if let password {
            text += ":" + (redactingPassword ? "***" : RedisURL.percentEncode(password))
        }
        return text + "@"
    }

    /// `host:port`, with an IPv6 host in brackets; a socket path as it is.
    public static func hostAndPort(_ endpoint: Endpoint) -> String {
        switch endpoint {
        case .tcp(let host, let port): return (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        case .unixSocket(let path): return path
        }
    }
}

extension Duration {
    /// Whole and fractional seconds, as a URL query value.
    var secondsText: String {
        let (seconds, attoseconds) = components
        if attoseconds == 0 { return "\(seconds)" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18)"
    }
}
