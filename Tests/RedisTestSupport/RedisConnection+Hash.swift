public import Redis

extension RedisConnection {
    /// `HGETALL key` as text fields, decoded leniently (invalid UTF-8 is repaired),
    /// as a test reads a hash back the way `redis-cli` shows it.
    public func hashFields(_ key: String) throws -> [String: String] {
        let elements = try send(RedisCommand("HGETALL", key)).array ?? []
        var fields: [String: String] = [:]
        var index = 0
        while index + 1 < elements.count {
            fields[String(decoding: elements[index].bytes ?? [], as: UTF8.self)] =
                String(decoding: elements[index + 1].bytes ?? [], as: UTF8.self)
            index += 2
        }
        return fields
    }
}
