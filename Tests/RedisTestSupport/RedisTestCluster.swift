import Foundation
public import Redis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real Redis Cluster for tests: `redis-server --cluster-enabled yes` processes on
/// loopback ports (by default 3 primaries with one replica each), joined by
/// `redis-cli --cluster create`. Started by ``start(primaries:replicasPerPrimary:)``;
/// its nodes stop like any ``RedisTestServer`` (on deinit).
public final class RedisTestCluster: Sendable {
    /// Every node, primaries first as `redis-cli --cluster create` assigned them.
    public let nodes: [RedisTestServer]
    /// A `redis-cluster://` configuration with every node as a seed.
    public let configuration: RedisConfiguration

    private init(nodes: [RedisTestServer]) {
        self.nodes = nodes
        configuration = RedisConfiguration(
            endpoint: nodes[0].configuration.endpoint,
            connectTimeout: .seconds(2),
            commandTimeout: .seconds(5),
            cluster: RedisClusterSettings(seeds: nodes.map(\.configuration.endpoint))
        )
    }

    /// Starts the nodes, creates the cluster and waits until every node serves all
    /// 16384 slots with `cluster_state:ok`.
    /// - Throws: When a node does not start, `redis-cli --cluster create` fails, or
    ///   the cluster is not ok within 20 s.
    public static func start(primaries: Int = 3, replicasPerPrimary: Int = 1) throws -> RedisTestCluster {
        let options = RedisTestServer.Options(extraArguments: [
            "--cluster-enabled", "yes", "--cluster-node-timeout", "2000", "--cluster-config-file", "nodes.conf",
        ])
        let nodes = try (0..<primaries * (1 + replicasPerPrimary)).map { _ in try RedisTestServer.start(options: options) }
        let cluster = RedisTestCluster(nodes: nodes)
        try cluster.create(replicasPerPrimary: replicasPerPrimary)
        try cluster.waitUntilServing()
        return cluster
    }

    private func create(replicasPerPrimary: Int) throws {
        let log = nodes[0].directory.appendingPathComponent("cluster-create.log").path
        let arguments = ["--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" }
            + ["--cluster-replicas", "\(replicasPerPrimary)", "--cluster-yes"]
        let creation = try ChildProcess(path: try Self.redisCLIPath(), arguments: arguments, outputPath: log)
        let status = creation.waitForExit()
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw TestServerError("redis-cli --cluster create exited \(status): \(output.suffix(400))")
        }
    }

    private func waitUntilServing() throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if nodes.allSatisfy(Self.servesEverySlot) { return }
            usleep(50_000)
        }
        throw TestServerError("the cluster was not ok on every node within 20 s")
    }

    private static func servesEverySlot(_ node: RedisTestServer) -> Bool {
        guard let connection = try? node.connect(),
              let info = try? connection.send("CLUSTER", "INFO").text, info.contains("cluster_state:ok"),
              let slots = try? connection.send("CLUSTER", "SLOTS"),
              let map = try? RedisClusterSlotMap(clusterSlots: slots) else { return false }
        return map.coveredSlots == RedisHashSlot.count
    }

    /// The process ids of the nodes still running (for a kill at process exit).
    var pids: [pid_t] { nodes.compactMap(\.pid) }

    private static func redisCLIPath() throws -> String {
        for candidate in ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw TestServerError("redis-cli not found; install it (apt-get install redis-tools)")
    }
}
