/// Which primary owns each of the 16,384 slots, as `CLUSTER SLOTS` reports it.
public struct RedisClusterSlotMap: Sendable, Hashable {
    /// The primaries, each once.
    public private(set) var primaries: [RedisConfiguration.Endpoint] = []
    /// For each slot, the index of its primary in ``primaries``, or -1 when no node serves it.
    private var owners = [Int16](repeating: -1, count: RedisHashSlot.count)

    /// An empty map: no slot is served.
    public init() {}

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [ip, port, id], replica…], …]`.
    /// - Throws: ``RedisError`` `unexpectedReply` for a reply of another shape.
    public init(clusterSlots reply: RedisReply) throws(RedisError) {
        guard let ranges = reply.array else { throw RedisError(.unexpectedReply, "CLUSTER SLOTS did not answer with an array") }
        for range in ranges {
            guard let parts = range.array, parts.count >= 3,
                  let start = parts[0].integer, let end = parts[1].integer, 0 <= start, start <= end, end < RedisHashSlot.count,
                  let node = parts[2].array, node.count >= 2, let host = node[0].text, let port = node[1].integer
            else { throw RedisError(.unexpectedReply, "CLUSTER SLOTS answered with a malformed slot range") }
            // An empty host means "the node you asked"; callers resolve that with ``replacingEmptyHosts(with:)``.
            assign(Int(start)...Int(end), to: .tcp(host: host, port: Int(port)))
        }
    }

    /// The primary that owns `slot`, or `nil` when the map has none for it.
    public func owner(ofSlot slot: Int) -> RedisConfiguration.Endpoint? {
        let index = owners[slot]
        return index < 0 ? nil : primaries[Int(index)]
    }

    /// The index in ``primaries`` of the primary that owns `slot`, or `nil` when the map has none for it.
    public func ownerIndex(ofSlot slot: Int) -> Int? {
        let index = owners[slot]
        return index < 0 ? nil : Int(index)
    }

    /// How many slots have an owner (16,384 in a healthy cluster).
    public var coveredSlots: Int { owners.count { $0 >= 0 } }

    /// Gives `slots` to `endpoint` (a `MOVED` reply moves one slot).
    public mutating func assign(_ slots: ClosedRange<Int>, to endpoint: RedisConfiguration.Endpoint) {
        let index: Int
        if let known = primaries.firstIndex(of: endpoint) {
            index = known
        } else {
            primaries.append(endpoint)
            index = primaries.count - 1
        }
        for slot in slots { owners[slot] = Int16(index) }
    }

    /// The map with primaries announced without a host (`""`) given the address they were asked at.
    func replacingEmptyHosts(with host: String) -> RedisClusterSlotMap {
        var copy = self
        copy.primaries = primaries.map { endpoint in
            if case .tcp(let nodeHost, let port) = endpoint, nodeHost.isEmpty { return .tcp(host: host, port: port) }
            return endpoint
        }
        return copy
    }
}
