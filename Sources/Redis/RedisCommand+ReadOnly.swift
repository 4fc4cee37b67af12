extension RedisCommand {
    /// Commands that never change data, so that one whose reply was lost can be
    /// sent again on a new connection without doing anything twice.
    ///
    /// `WATCH` and `UNWATCH` only change the connection's own state, which a new
    /// connection does not have, so they count as reads too.
    static let readOnlyNames: Set<String> = [
        "PING", "ECHO", "TIME", "INFO", "ROLE", "DBSIZE", "TYPE", "EXISTS", "TTL", "PTTL",
        "GET", "MGET", "STRLEN", "GETRANGE",
        "HGET", "HGETALL", "HMGET", "HEXISTS", "HLEN", "HKEYS", "HVALS", "HSCAN",
        "SISMEMBER", "SMISMEMBER", "SMEMBERS", "SCARD", "SSCAN", "SINTER", "SUNION", "SDIFF",
        "ZSCORE", "ZMSCORE", "ZCARD", "ZCOUNT", "ZRANK", "ZREVRANK", "ZRANGE", "ZREVRANGE",
        "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZSCAN",
        "LLEN", "LRANGE", "LINDEX",
        "XLEN", "XRANGE", "XREVRANGE", "XREAD", "XINFO", "XPENDING",
        "SCAN", "KEYS", "WATCH", "UNWATCH",
    ]

    /// `true` when the command only reads (see ``readOnlyNames``), so that a
    /// socket failure while it was in flight is safe to retry.
    public var isReadOnly: Bool { Self.readOnlyNames.contains(name) }
}
