import Dispatch
import Foundation
import Histogram
import OpsCore
import Redis
import Synchronization

extension BenchRunner {
    /// Events per second through one `ConsumerGroup`: batch reads of 500 over the
    /// 16 streams, each batch acknowledged with one `XACK` per partition in one
    /// pipeline, from the beginning of the bench's own streams.
    func consume() throws -> BenchResult {
        let group = ConsumerGroup(configuration: pool.configuration, keys: keys, group: "bench", consumer: "bench")
        try group.prepare(from: .beginning)
        _ = try group.next(count: 1)  // the (empty) own-pending read
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        var events = 0
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = started + UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
        while DispatchTime.now().uptimeNanoseconds < deadline {
            let before = DispatchTime.now().uptimeNanoseconds
            let batch = try group.next(count: 500, block: .milliseconds(10))
            if batch.isEmpty { break }
            try group.acknowledge(batch)
            latency.record(max(1, (DispatchTime.now().uptimeNanoseconds - before) / 1000 / UInt64(batch.count)))
            events += batch.count
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        return BenchResult(
            run: "consume", connections: 1, operations: events, seconds: seconds, latency: latency,
            abortsPerOperation: 0, roundTripsPerOperation: 0, cpuMicrosecondsPerOperation: 0, serverCPUMicrosecondsPerOperation: 0)
    }

    /// Commit-to-delivery latency of `watch`'s reader: one writer updates one
    /// session at a paced `rate` per second while an `EventFeedReader` reads; each
    /// latency runs from just before the update call to the event's arrival.
    func watchLatency(rate: Int = 1_000) throws -> BenchResult {
        let session = try lifecycle.startSession(agentID: agentID, workflowID: "bench-watch")
        remember([session.id])
        let sentAt = Mutex<[Int64: UInt64]>([:])
        let latencies = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000))
        let writerDone = Atomic<Bool>(false)
        let readerReady = DispatchSemaphore(value: 0)
        let readerDone = DispatchSemaphore(value: 0)
        let configuration = pool.configuration
        let keys = keys
        let total = max(1, Int(Double(rate) * Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18 * Double(rate)))
        let received = Atomic<Int>(0)
        Thread {
            let reader = EventFeedReader(configuration: configuration, keys: keys, from: .now)
            _ = try? reader.next(block: .milliseconds(1))  // position taken before the first update
            readerReady.signal()
            while received.load(ordering: .relaxed) < total {
                guard let items = try? reader.next(block: .milliseconds(100)) else { break }
                let now = DispatchTime.now().uptimeNanoseconds
                for case .event(let entry) in items {
                    guard let event = entry.event, event.sessionID == session.id,
                          let sent = sentAt.withLock({ $0[event.version] }) else { continue }
                    latencies.withLock { _ = $0.record(max(1, (now - sent) / 1000)) }
                    received.add(1, ordering: .relaxed)
                }
                if writerDone.load(ordering: .relaxed) && items.isEmpty { break }
            }
            readerDone.signal()
        }.start()
        readerReady.wait()
        let interval = UInt64(1_000_000_000 / rate)
        let started = DispatchTime.now().uptimeNanoseconds
        for index in 0..<total {
            let due = started + UInt64(index) * interval
            while DispatchTime.now().uptimeNanoseconds < due { usleep(50) }
            let version = session.version + Int64(index) + 1
            sentAt.withLock { $0[version] = DispatchTime.now().uptimeNanoseconds }
            _ = try lifecycle.updateSession(session.id, SessionUpdate(metadataPatch: ["w": .integer(Int64(index))]))
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        writerDone.store(true, ordering: .relaxed)
        readerDone.wait()
        let delivered = received.load(ordering: .relaxed)
        guard delivered == total else {
            throw CommandFailure(message: "watch latency: \(delivered) of \(total) events delivered", exitCode: 1)
        }
        return BenchResult(
            run: "watch_latency", connections: 1, operations: total, seconds: seconds, latency: latencies.withLock { $0 },
            abortsPerOperation: 0, roundTripsPerOperation: 0, cpuMicrosecondsPerOperation: 0, serverCPUMicrosecondsPerOperation: 0)
    }

    /// Redis memory per retained event: `INFO memory` before and after `count`
    /// updates (each one event) of sessions in every partition, in a namespace of
    /// its own whose streams keep them all.
    func memoryPerEvent(count: Int, connections: Int) throws -> Double {
        let namespace = keys.namespace + "-events"
        let lifecycle = try SessionLifecycle(pool: pool, namespace: namespace)
        let eventKeys = try KeySpace(namespace: namespace)
        _ = try lifecycle.store.createMeta(eventsMaxLength: count)
        try lifecycle.agents.register([agentID])
        let sessions = try KeySpace.partitions.map { partition in
            try lifecycle.startSession(agentID: agentID, workflowID: "bench-events", sessionID: SessionID(KeySpace.partitionLabels[partition] + SessionID.random().text.dropFirst())!).id
        }
        defer {
            _ = try? pool.withConnection { connection in
                _ = try connection.pipeline(sessions.map { RedisCommand("DEL", eventKeys.session($0)) })
                for partition in KeySpace.partitions {
                    _ = try connection.send(RedisCommand("DEL", [
                        eventKeys.agents(partition), eventKeys.byUpdate(partition), eventKeys.agentSessions(agentID, partition: partition),
                        eventKeys.eventStream(partition),
                    ]))
                }
                _ = try connection.send(RedisCommand("DEL", eventKeys.meta))
            }
        }
        let before = try usedMemory()
        let next = Atomic<Int>(0)
        _ = try measure("events", connections: connections, duration: .seconds(3_600)) { _, _ in
            let index = next.add(1, ordering: .relaxed).oldValue
            guard index < count else { return false }
            _ = try lifecycle.updateSession(sessions[index % sessions.count], SessionUpdate(metadataPatch: ["e": .integer(Int64(index % 10))]))
            return true
        }
        return Double(try usedMemory() - before) / Double(count)
    }

}
