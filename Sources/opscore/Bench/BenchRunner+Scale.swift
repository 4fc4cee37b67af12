import Dispatch
import Foundation
import OpsCore
import Redis
import Synchronization

extension BenchRunner {
    /// Starts sessions on `connections` threads until `target` sessions exist in
    /// the bench namespace, each through the real start path.
    func fill(to target: Int, connections: Int) throws {
        let missing = target - createdCount
        guard missing > 0 else { return }
        let next = Atomic<Int>(0)
        let failure = Mutex<(any Error)?>(nil)
        let group = DispatchGroup()
        for _ in 0..<connections {
            group.enter()
            Thread {
                var mine: [SessionID] = []
                mine.reserveCapacity(missing / connections + 1)
                do {
                    while next.add(1, ordering: .relaxed).newValue <= missing {
                        mine.append(try self.lifecycle.startSession(
                            agentID: self.agentID, workflowID: "bench-fill", metadata: ["step": .integer(0), "host": .string("bench")]).id)
                    }
                } catch {
                    failure.withLock { $0 = error }
                }
                self.remember(mine)
                group.leave()
            }.start()
        }
        group.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Redis memory per session: `used_memory` before and after starting `count`
    /// sessions with small metadata, and the session hash's encoding.
    func memoryPerSession(count: Int, connections: Int) throws -> (bytesPerSession: Double, encoding: String) {
        let before = try usedMemory()
        let already = createdCount
        try fill(to: already + count, connections: connections)
        let after = try usedMemory()
        let sample = lastCreated
        let encoding = try pool.withConnection { try $0.send(RedisCommand("OBJECT", "ENCODING", keys.session(sample!))).text } ?? "?"
        return (Double(after - before) / Double(count), encoding)
    }

    /// The server's `used_memory`.
    func usedMemory() throws -> Int {
        guard let bytes = try pool.withConnection({ try RedisInfo($0, section: "memory") }).integer("used_memory") else {
            throw CommandFailure(message: "INFO memory has no used_memory", exitCode: 1)
        }
        return bytes
    }
}
