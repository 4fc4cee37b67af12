/// The seed nodes of a Redis Cluster.
///
/// A configuration with these settings never connects to its own
/// ``RedisConfiguration/endpoint``: ``RedisClusterRouter`` reads the slot map
/// (`CLUSTER SLOTS`) from a seed and sends each command to the primary that owns
/// the slot of its keys. The database is always 0.
public struct RedisClusterSettings: Sendable, Hashable {
    /// Nodes asked for the slot map, in turn, until one answers; any node of the cluster will do.
    public var seeds: [RedisConfiguration.Endpoint]

    /// Creates cluster settings.
    public init(seeds: [RedisConfiguration.Endpoint]) {
        self.seeds = seeds
    }
}
