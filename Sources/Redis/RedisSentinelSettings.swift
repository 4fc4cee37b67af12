/// Where the sentinels are and which primary to ask them for.
///
/// A configuration with these settings never connects to its own ``RedisConfiguration/endpoint``:
/// every new connection asks the sentinels for the current primary of ``masterName``
/// (see ``RedisSentinelLocator``) and confirms it with `ROLE`.
public struct RedisSentinelSettings: Sendable, Hashable {
    /// The sentinels, asked in turn; the one that answered last is asked first next time.
    public var sentinels: [RedisConfiguration.Endpoint]
    /// The name the sentinels monitor the primary under (`sentinel monitor <name> …`).
    public var masterName: String
    /// The sentinels' own password (`requirepass` in their configuration), or `nil`.
    /// The configuration's user name and password are the data nodes'.
    public var password: String?

    /// The port a sentinel listens on when the URL names none.
    public static let defaultPort = 26379

    /// Creates sentinel settings.
    public init(sentinels: [RedisConfiguration.Endpoint], masterName: String, password: String? = nil) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.password = password
    }
}
