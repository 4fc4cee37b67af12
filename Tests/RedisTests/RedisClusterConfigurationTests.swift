import Redis
import Testing

@Suite struct RedisClusterConfigurationTests {
    @Test func readsSeedsCredentialsAndTimeouts() throws {
        let configuration = try RedisConfiguration(url: "redis-cluster://ops:p%40ss@10.0.0.1:7000,10.0.0.2,[::1]:7002?timeout=0.5")
        let cluster = try #require(configuration.cluster)
        #expect(cluster.seeds == [.tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.2", port: 6379), .tcp(host: "::1", port: 7002)])
        #expect(configuration.username == "ops")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == 0)
        #expect(configuration.commandTimeout == .milliseconds(500))
        #expect(try RedisConfiguration(url: configuration.url(redactingPassword: false)) == configuration)
        #expect(!configuration.description.contains("p@ss") && !configuration.description.contains("p%40ss"))
    }

    @Test(arguments: [
        "redis-cluster://127.0.0.1:7000/1",          // a Cluster has only database 0
        "redis-cluster://127.0.0.1:7000?db=2",
        "redis-cluster://127.0.0.1:7000,,h:1",        // empty seed
        "redis-cluster://127.0.0.1:7000#name",        // no fragment
        "redis-cluster://127.0.0.1:70000",            // bad port
    ])
    func malformedClusterURLsAreRefused(url: String) {
        #expect(throws: RedisError.self) { try RedisConfiguration(url: url) }
    }

    @Test func aSlotMapReadsClusterSlotsAndMovesOneSlot() throws {
        func node(_ host: String, _ port: Int) -> RedisReply { .array([.string(Array(host.utf8)), .integer(Int64(port)), .string(Array("id".utf8))]) }
        let reply = RedisReply.array([
            .array([.integer(0), .integer(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)]),
            .array([.integer(5461), .integer(10922), node("127.0.0.1", 7001)]),
            .array([.integer(10923), .integer(16383), node("127.0.0.1", 7002)]),
        ])
        var map = try RedisClusterSlotMap(clusterSlots: reply)
        #expect(map.coveredSlots == RedisHashSlot.count)
        #expect(map.primaries.count == 3)
        #expect(map.owner(ofSlot: 0) == .tcp(host: "127.0.0.1", port: 7000))
        #expect(map.owner(ofSlot: 5461) == .tcp(host: "127.0.0.1", port: 7001))
        #expect(map.owner(ofSlot: 16383) == .tcp(host: "127.0.0.1", port: 7002))
        map.assign(42...42, to: .tcp(host: "127.0.0.1", port: 7002))
        #expect(map.owner(ofSlot: 42) == .tcp(host: "127.0.0.1", port: 7002))
        #expect(map.owner(ofSlot: 41) == .tcp(host: "127.0.0.1", port: 7000))
    }

    @Test func aMalformedClusterSlotsReplyIsRefused() {
        #expect(throws: RedisError.self) { try RedisClusterSlotMap(clusterSlots: .array([.array([.integer(0), .integer(99_999)])])) }
        #expect(throws: RedisError.self) { try RedisClusterSlotMap(clusterSlots: .status("OK")) }
    }
}
