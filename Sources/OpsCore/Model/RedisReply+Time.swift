import Redis

extension RedisReply {
    /// A `TIME` reply (seconds and microseconds) as a timestamp in milliseconds.
    /// - Throws: ``RedisError`` of kind `unexpectedReply` for any other shape.
    func redisTime() throws(RedisError) -> Timestamp {
        guard let parts = array, parts.count == 2, let seconds = parts[0].integer, let microseconds = parts[1].integer else {
            throw RedisError(.unexpectedReply, "TIME did not return seconds and microseconds")
        }
        return Timestamp(millisecondsSince1970: seconds * 1000 + microseconds / 1000)
    }
}
