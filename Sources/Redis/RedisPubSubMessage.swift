/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel the message was published to.
    public var channel: String
    /// The pattern that matched, for pattern subscriptions; `nil` for plain ones.
    public var pattern: String?
    /// The message, as published.
    public var payload: [UInt8]

    /// Creates a message.
    public init(channel: String, pattern: String?, payload: [UInt8]) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
    }
}

/// What a ``RedisSubscriber`` reports.
public enum RedisSubscriberEvent: Sendable, Hashable {
    /// All subscriptions are in place. `afterReconnect` is `true` when this
    /// follows a lost connection, so messages sent meanwhile were missed.
    case subscribed(afterReconnect: Bool)
    /// A message arrived.
    case message(RedisPubSubMessage)
    /// The connection was lost or could not be made; the subscriber keeps trying.
    case disconnected(RedisError)
}
