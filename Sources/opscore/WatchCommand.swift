import ArgumentParser
import Foundation
import Logging
import OpsCore
import Redis
import Synchronization

/// `opscore watch`: prints session events as they are published.
struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print session events, one per line, until interrupted.",
        discussion: """
            Events are Redis pub/sub messages: delivered at most once. After a lost connection \
            watch reconnects with backoff and says on stderr that events may have been missed. \
            Exits 0 on SIGINT or SIGTERM.

            Example: opscore --format json watch --agent build-bot-1
            """)
    @OptionGroup var global: GlobalOptions
    @Option(name: .customLong("agent"), help: "Only events of this agent.") var agentID: String?
    @Option(name: .customLong("session"), help: "Only events of this session.") var sessionID: String?

    func run() throws {
        let sessionFilter = try sessionID.map(SessionCommand.sessionID)
        let logger = try global.logger()
        let keys = try KeySpace(namespace: try global.resolvedNamespace())
        let subscriber = RedisSubscriber(configuration: try global.redisConfiguration(), channels: [keys.eventsChannel], reconnectDelay: .seconds(2))
        let format = global.outputFormat
        let failure = Mutex<OpsCoreError?>(nil)
        let done = DispatchSemaphore(value: 0)
        let agentFilter = agentID
        let trap = SignalTrap { _, _ in subscriber.stop() }
        Task.detached {
            var everSubscribed = false
            var outage = false
            for await event in subscriber.events {
                switch event {
                case .subscribed(let afterReconnect):
                    if afterReconnect {
                        logger.warning("reconnected to Redis; events published while disconnected were missed")
                    } else {
                        logger.info("watching", metadata: ["channel": "\(keys.eventsChannel)"])
                    }
                    everSubscribed = true
                    outage = false
                case .disconnected(let error):
                    if !everSubscribed {
                        failure.withLock { $0 = .redis(error) }
                        subscriber.stop()
                    } else if !outage {
                        outage = true
                        logger.warning("lost connection to Redis (\(error.message)); reconnecting; events may have been missed")
                    }
                case .message(let message):
                    if !Self.print(message.payload, format: format, agent: agentFilter, session: sessionFilter) {
                        subscriber.stop()  // nobody reads our output any more
                    }
                }
            }
            done.signal()
        }
        subscriber.start()
        done.wait()
        withExtendedLifetime(trap) {}
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Prints one event; returns `false` when stdout is gone.
    private static func print(_ payload: [UInt8], format: OutputFormat, agent: String?, session: SessionID?) -> Bool {
        // Only JSON objects are events; anything else published on the channel is skipped.
        guard let value = try? JSONValue(parsing: payload), case .object = value else { return true }
        let event = SessionEvent(json: payload)
        if agent != nil || session != nil {
            guard let event else { return true }
            if let agent, event.agentID != agent { return true }
            if let session, event.sessionID != session { return true }
        }
        switch format {
        case .json:
            // Our events are one line already; re-serialize anything that is not.
            if payload.contains(UInt8(ascii: "\n")) || payload.contains(UInt8(ascii: "\r")) {
                return Output.line(value.jsonBytes)
            }
            return Output.line(payload)
        case .text:
            guard let event else { return Output.line(value.jsonBytes) }
            let previous = event.previousStatus.map { "\($0.rawValue) -> " } ?? ""
            return Output.line("\(event.at)  \(event.kind.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0))  \(event.sessionID)  v\(event.version)  \(previous)\(event.status.rawValue)  agent=\(Output.quotedIfNeeded(event.agentID))  origin=\(event.origin)")
        }
    }
}
