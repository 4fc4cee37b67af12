import Redis
import Synchronization

/// What `<ns>:meta` holds: the key layout, the partition count, and how many
/// entries each partition's event stream keeps (`events_maxlen`).
public struct KeySpaceMeta: Sendable, Hashable {
    /// The layout this build writes.
    public static let currentLayout = 2
    /// `events_maxlen` when the first writer sets none.
    public static let defaultEventsMaxLength = 10_000

    /// `layout`.
    public var layout: Int
    /// `partitions`.
    public var partitions: Int
    /// `events_maxlen`: each stream is trimmed to about this many entries (`MAXLEN ~`).
    public var eventsMaxLength: Int

    /// Reads an `HGETALL <ns>:meta` reply; `nil` when the hash does not exist.
    /// - Throws: ``OpsCoreError/layoutMismatch(_:)`` when a field is missing or malformed.
    static func decode(_ reply: RedisReply) throws(OpsCoreError) -> KeySpaceMeta? {
        guard let pairs = reply.array, !pairs.isEmpty else { return nil }
        var fields: [String: Int] = [:]
        var index = 0
        while index + 1 < pairs.count {
            if let name = pairs[index].text, let value = pairs[index + 1].text.flatMap({ Int($0) }) { fields[name] = value }
            index += 2
        }
        guard let layout = fields["layout"], let partitions = fields["partitions"], let maxLength = fields["events_maxlen"], maxLength > 0 else {
            throw .layoutMismatch("the meta hash lacks layout, partitions or events_maxlen")
        }
        return KeySpaceMeta(layout: layout, partitions: partitions, eventsMaxLength: maxLength)
    }
}

/// Checks, once per store, that the namespace is in layout 2 before the first
/// write, and writes `<ns>:meta` after the first committed write when the
/// namespace has none yet, so that a refused command never leaves meta behind.
/// Caches `events_maxlen` for the writes' `XADD … MAXLEN ~`.
final class KeySpaceMetaCheck: Sendable {
    private struct State {
        var meta: KeySpaceMeta?
        var pendingWrite = false
    }

    private let state = Mutex(State())

    /// The namespace's meta, verified to be layout 2 (read-only; one round trip the
    /// first time). Without a meta hash the defaults are used and the hash is
    /// written by ``committed(_:pool:)``.
    /// - Throws: ``OpsCoreError/layoutMismatch(_:)`` for another layout or layout-1
    ///   keys without meta, `redis`.
    func meta(_ keys: KeySpace, pool: RedisConnectionPool) throws(OpsCoreError) -> KeySpaceMeta {
        if let known = state.withLock({ $0.meta }) { return known }
        // One EXISTS per layout-1 key: on a Cluster they live in different slots.
        let replies = try pool.opsPipeline(routing: [
            (keys.meta, RedisCommand("HGETALL", keys.meta)),
            (keys.layout1Agents, RedisCommand("EXISTS", keys.layout1Agents)),
            (keys.layout1ByUpdate, RedisCommand("EXISTS", keys.layout1ByUpdate)),
        ], readOnly: true)
        try Self.throwServerErrors(replies)
        let meta: KeySpaceMeta
        var pendingWrite = false
        if let found = try KeySpaceMeta.decode(replies[0]) {
            guard found.layout == KeySpaceMeta.currentLayout, found.partitions == KeySpace.partitionCount else {
                throw .layoutMismatch("namespace \(keys.namespace) is in layout \(found.layout) with \(found.partitions) partitions, not layout \(KeySpaceMeta.currentLayout); run `opscore migrate`")
            }
            meta = found
        } else {
            guard replies[1].integer == 0 && replies[2].integer == 0 else {
                throw .layoutMismatch("namespace \(keys.namespace) holds layout-1 keys and no meta; run `opscore migrate` to move them to layout 2")
            }
            meta = KeySpaceMeta(layout: KeySpaceMeta.currentLayout, partitions: KeySpace.partitionCount, eventsMaxLength: KeySpaceMeta.defaultEventsMaxLength)
            pendingWrite = true
        }
        state.withLock { $0 = State(meta: meta, pendingWrite: pendingWrite) }
        return meta
    }

    /// After a committed write: writes the meta hash if this store found none (each
    /// field `HSETNX`, so racing first writers agree). Best effort: a failure here
    /// leaves the write committed and the next writer tries again.
    func committed(_ keys: KeySpace, pool: RedisConnectionPool) {
        guard let meta = state.withLock({ state -> KeySpaceMeta? in
            guard state.pendingWrite else { return nil }
            state.pendingWrite = false
            return state.meta
        }) else { return }
        _ = try? create(keys, pool: pool, eventsMaxLength: meta.eventsMaxLength)
    }

    /// Writes the meta hash unless it exists (`opscore init`), and returns it as stored.
    /// - Throws: ``OpsCoreError/layoutMismatch(_:)`` (nothing is written then), `redis`.
    func create(_ keys: KeySpace, pool: RedisConnectionPool, eventsMaxLength: Int) throws(OpsCoreError) -> KeySpaceMeta {
        _ = try meta(keys, pool: pool)  // refuses layout 1 or another layout before writing
        let written = try pool.withOpsConnection(routingKey: keys.meta) { connection in
            try connection.pipeline([
                RedisCommand("HSETNX", keys.meta, "layout", KeySpaceMeta.currentLayout),
                RedisCommand("HSETNX", keys.meta, "partitions", KeySpace.partitionCount),
                RedisCommand("HSETNX", keys.meta, "events_maxlen", eventsMaxLength),
                RedisCommand("HGETALL", keys.meta),
            ])
        }
        try Self.throwServerErrors(written)
        guard let stored = try KeySpaceMeta.decode(written[3]) else {
            throw .layoutMismatch("the meta hash of namespace \(keys.namespace) could not be written")
        }
        state.withLock { $0 = State(meta: stored, pendingWrite: false) }
        return stored
    }

    private static func throwServerErrors(_ replies: [RedisReply]) throws(OpsCoreError) {
        for reply in replies {
            if case .error(let serverError) = reply { throw .redis(RedisError(serverError)) }
        }
    }
}
