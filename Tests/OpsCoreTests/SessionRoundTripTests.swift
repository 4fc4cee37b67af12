import OpsCore
import Redis
import RedisTestSupport
import Testing

/// Round trips per call, counted by a private pool's `roundTrips`.
@Suite struct SessionRoundTripTests {
    @Test func eachCallCostsItsDocumentedRoundTrips() async throws {
        let fixture = try await OpsFixture.make("round-trips", poolSize: 1)
        let pool = fixture.pool
        let (costs, nodes) = try await fixture.run { lifecycle, _ -> ([String: Int], Int) in
            var costs: [String: Int] = [:]
            func measure<Value>(_ name: String, _ body: () throws -> Value) rethrows -> Value {
                let before = pool.roundTrips
                let value = try body()
                costs[name] = pool.roundTrips - before
                return value
            }
            _ = try lifecycle.agents.list()  // the pool's connection exists from here on
            let session = try measure("start") { try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf") }
            _ = try measure("update") { try lifecycle.updateSession(session.id, SessionUpdate(status: .paused, metadataPatch: ["a": 1])) }
            _ = try measure("update with expected version") {
                try lifecycle.updateSession(session.id, SessionUpdate(metadataPatch: ["b": 2], expectedVersion: 2))
            }
            _ = try measure("get") { try lifecycle.getSession(session.id) }
            _ = try measure("list") { try lifecycle.listSessions(agent: fixture.agent).sessions }
            _ = try measure("end") { try lifecycle.endSession(session.id) }
            try measure("delete") { try lifecycle.deleteSession(session.id) }
            _ = try measure("register") { try lifecycle.agents.register(["x"]) }
            _ = measure("refused update") {
                attempt { () throws(OpsCoreError) in try lifecycle.updateSession(session.id, SessionUpdate(status: .active)) }
            }
            return (costs, try pool.withEachPrimary { _ in () }.count)
        }
        #expect(costs["start"] == 2)
        #expect(costs["update"] == 2)
        #expect(costs["update with expected version"] == 2)
        #expect(costs["get"] == 1)
        // Cross-partition work is one pipeline per node: on a Cluster, one per primary.
        #expect(nodes == (fixture.server.isCluster ? 3 : 1))
        #expect(costs["list"] == 1 + nodes)
        #expect(costs["end"] == 2)
        #expect(costs["delete"] == 2)
        #expect(costs["register"] == nodes)
        // WATCH + HGETALL + TIME, then UNWATCH.
        #expect(costs["refused update"] == 2)
    }
}
