import OpsCore
import Redis

extension BenchRunner {
    /// The Redis commands of one get (`HGETALL`) and of one update, built once and
    /// sent on one connection in the same round trips as the real calls (for an
    /// update, `WATCH`, `HGETALL`, `TIME`, `MULTI`; then `HSET`, `ZADD`, `XADD`,
    /// `PUBLISH`, `EXEC`) with no OpsCore work around them: what any client pays for
    /// them on this server and machine, to set the `get` and `update` runs against.
    /// The get floor reads `sessions` round robin, as the get run does; the update
    /// floor writes keys of its own, copied from the first session and its last
    /// event, so the feed and the sessions stay untouched.
    func floors(like sessions: [SessionID]) throws -> [BenchResult] {
        let session = sessions[0]
        let partition = KeySpace.partition(of: session)
        let prefix = "\(keys.namespace):{\(KeySpace.partitionLabels[partition])}:bench-floor"
        let hash = Array(prefix.utf8)
        let (fields, event) = try pool.withConnection(routingKeys: [keys.session(session)]) { connection in
            let fields = try connection.send(RedisCommand("HGETALL", keys.session(session))).array ?? []
            let last = try connection.send(RedisCommand("XREVRANGE", keys.eventStream(partition), "+", "-", "COUNT", 1))
            return (fields.compactMap(\.bytes), last.array?.first?.array?.last?.array?.last?.bytes ?? Array(repeating: UInt8(ascii: "x"), count: 400))
        }
        var copy = RedisCommand("HSET", hash)
        for field in fields { copy.append(field) }
        try pool.withConnection(routingKeys: [hash]) { _ = try $0.send(copy) }
        remember(otherKeys: [hash, Array("\(prefix):index".utf8), Array("\(prefix):events".utf8)])
        let open = [RedisCommand("WATCH", hash), RedisCommand("HGETALL", hash), RedisCommand("TIME"), RedisCommand("MULTI")]
        let commit = [
            RedisCommand("HSET", hash, "metadata", #"{"step":1}"#, "last_updated_time", "2026-12-02T00:00:00.000Z", "version", 2),
            RedisCommand("ZADD", "\(prefix):index", 1_764_633_600_000, session.text),
            RedisCommand("XADD", "\(prefix):events", "MAXLEN", "~", 10_000, "*", "event", event),
            RedisCommand("PUBLISH", "\(keys.namespace):bench-floor", event),
            RedisCommand("EXEC"),
        ]
        let slice = max(Duration.milliseconds(50), duration / 10)
        let reads = sessions.map { (key: keys.session($0), command: RedisCommand("HGETALL", keys.session($0))) }
        let getFloor = try paired("get_floor", connections: 1, slices: 10, slice: slice) { _, index in
            let read = reads[index % reads.count]
            try self.pool.withConnection(routingKeys: [read.key]) { _ = try $0.send(read.command) }
            return true
        }.result
        let updateFloor = try paired("update_floor", connections: 1, slices: 10, slice: slice) { _, _ in
            try self.pool.withConnection(routingKeys: [hash]) { connection in
                _ = try connection.pipeline(open)
                _ = try connection.pipeline(commit)
            }
            return true
        }.result
        return [getFloor, updateFloor]
    }
}
