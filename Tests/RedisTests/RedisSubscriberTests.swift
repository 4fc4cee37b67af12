import Foundation
import Redis
import RedisTestSupport
import Testing

@Suite struct RedisSubscriberTests {
    @Test func publishedMessagesArriveInOrderAndStopEndsTheStream() async throws {
        let server = try RedisTestServer.shared()
        let channel = RedisTestServer.uniquePrefix("events")
        let subscriber = RedisSubscriber(configuration: server.configuration, channels: [channel], patterns: [channel + ":*"])
        subscriber.start()
        var iterator = subscriber.events.makeAsyncIterator()
        #expect(await iterator.next() == .subscribed(afterReconnect: false))
        let payload: [UInt8] = [0, 10, 13, 0xFF]
        try await onOwnThread {
            let publisher = try server.connect()
            for index in 0..<100 { try publisher.send("PUBLISH", channel, "m\(index)") }
            try publisher.send("PUBLISH", channel + ":sub", payload)
        }
        for index in 0..<100 {
            let event = await iterator.next()
            #expect(event == .message(RedisPubSubMessage(channel: channel, pattern: nil, payload: Array("m\(index)".utf8))))
        }
        #expect(await iterator.next() == .message(RedisPubSubMessage(channel: channel + ":sub", pattern: channel + ":*", payload: payload)))
        subscriber.stop()
        #expect(await iterator.next() == nil)
    }

    @Test func stopReturnsPromptlyWhileNothingArrives() async throws {
        let server = try RedisTestServer.shared()
        let subscriber = RedisSubscriber(configuration: server.configuration, channels: [RedisTestServer.uniquePrefix()])
        subscriber.start()
        var iterator = subscriber.events.makeAsyncIterator()
        #expect(await iterator.next() == .subscribed(afterReconnect: false))
        let clock = ContinuousClock()
        let start = clock.now
        subscriber.stop()
        #expect(await iterator.next() == nil)
        #expect(clock.now - start < .seconds(2))
    }

    @Test func resubscribesAfterTheServerRestarts() async throws {
        let server = try RedisTestServer.start()
        defer { server.stop() }
        let subscriber = RedisSubscriber(configuration: server.configuration, channels: ["ch"], reconnectDelay: .milliseconds(100))
        subscriber.start()
        defer { subscriber.stop() }
        var iterator = subscriber.events.makeAsyncIterator()
        #expect(await iterator.next() == .subscribed(afterReconnect: false))
        server.kill()
        guard case .disconnected = await iterator.next() else {
            Issue.record("expected a disconnected event")
            return
        }
        try server.restart()
        var event = await iterator.next()
        while case .disconnected = event { event = await iterator.next() }
        #expect(event == .subscribed(afterReconnect: true))
        try await onOwnThread { try server.connect().send("PUBLISH", "ch", "again") }
        #expect(await iterator.next() == .message(RedisPubSubMessage(channel: "ch", pattern: nil, payload: Array("again".utf8))))
    }
}
