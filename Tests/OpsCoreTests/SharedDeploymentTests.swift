import OpsCore
import Redis
import RedisTestSupport
import Testing

/// The shared deployment is the one the run asked for: with
/// `OPSCORE_TEST_TOPOLOGY=cluster` the session, event and CLI suites run on a
/// 3-primary Redis Cluster, and their partitions really spread over its nodes.
@Suite struct SharedDeploymentTests {
    @Test func sessionsOfThe16PartitionsSpreadOverTheDeploymentsPrimaries() async throws {
        let fixture = try await OpsFixture.make("deployment")
        let sessionsPerPrimary = try await fixture.run { lifecycle, _ -> [Int] in
            for partition in KeySpace.partitions {
                _ = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: OpsFixture.sessionID(inPartition: partition))
            }
            return try fixture.pool.withEachPrimary { try $0.send("KEYS", fixture.sessionKeyPattern).array?.count ?? -1 }.map(\.result)
        }
        #expect(sessionsPerPrimary.reduce(0, +) == 16)
        if RedisTestServer.isClusterRun {
            #expect(fixture.server.isCluster)
            #expect(sessionsPerPrimary.count == 3)
            #expect(sessionsPerPrimary.allSatisfy { $0 > 0 }, "\(sessionsPerPrimary)")
        } else {
            #expect(!fixture.server.isCluster)
            #expect(sessionsPerPrimary.count == 1)
        }
    }
}
