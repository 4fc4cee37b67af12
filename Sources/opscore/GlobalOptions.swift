import ArgumentParser
import Foundation
import Logging
import OpsCore
import Redis

/// Output formats.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case json, text
}

/// Options every command takes; each falls back to its environment variable.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Redis URL: redis://[[user]:password@]host[:port][/db], unix:///path.sock[?db=N] or redis-sentinel://[[user]:password@]host[:port][,host[:port]...][/db]#master-name. Env OPSCORE_REDIS_URL.", valueName: "URL"))
    var redisURL: String?

    @Option(name: .long, help: ArgumentHelp("Key namespace. Env OPSCORE_NAMESPACE. Default opscore.", valueName: "NS"))
    var namespace: String?

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error, critical. Env OPSCORE_LOG_LEVEL. Default info.", valueName: "LEVEL"))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("json or text. Default: text on a terminal, json otherwise.", valueName: "FORMAT"))
    var format: OutputFormat?

    @Option(name: .long, help: ArgumentHelp("Writer name in events (`origin`). Env OPSCORE_ORIGIN. Default: the host name.", valueName: "NAME"))
    var origin: String?

    @Option(name: .customLong("wait-replicas"), help: ArgumentHelp("Replicas that must confirm every write (WAIT); fewer exit 75. Env OPSCORE_WAIT_REPLICAS. Default 0.", valueName: "N"))
    var waitReplicas: Int?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The resolved output format.
    var outputFormat: OutputFormat {
        if let format { return format }
        return isatty(STDOUT_FILENO) == 1 ? .text : .json
    }

    /// The Redis configuration from the flag, the environment, or the default.
    func redisConfiguration() throws -> RedisConfiguration {
        let url = redisURL ?? environment["OPSCORE_REDIS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "redis://127.0.0.1:6379/0"
        do {
            return try RedisConfiguration(url: url)
        } catch {
            throw CommandFailure.usage("invalid --redis-url: \(error.message)")
        }
    }

    /// The key namespace: 1 to 64 characters of `[A-Za-z0-9_.-]`.
    func resolvedNamespace() throws -> String {
        let value = namespace ?? environment["OPSCORE_NAMESPACE"].flatMap { $0.isEmpty ? nil : $0 } ?? "opscore"
        try KeySpace.validate(namespace: value)  // invalid_input: exit 64
        return value
    }

    /// Replicas that must confirm every write: the flag, the environment, or 0.
    func resolvedWaitReplicas() throws -> Int {
        if let waitReplicas {
            guard (0...100).contains(waitReplicas) else { throw CommandFailure.usage("invalid --wait-replicas: use 0 to 100") }
            return waitReplicas
        }
        guard let text = environment["OPSCORE_WAIT_REPLICAS"], !text.isEmpty else { return 0 }
        guard let value = Int(text), (0...100).contains(value) else { throw CommandFailure.usage("invalid OPSCORE_WAIT_REPLICAS: use 0 to 100") }
        return value
    }

    /// The writer name written as `origin` in events: the flag, the environment, or
    /// `nil` for the host name. ``SessionLifecycle`` checks it.
    var resolvedOrigin: String? {
        origin ?? environment["OPSCORE_ORIGIN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Bootstraps logging to stderr once and returns the logger.
    func logger() throws -> Logger {
        let text = logLevel ?? environment["OPSCORE_LOG_LEVEL"].flatMap { $0.isEmpty ? nil : $0 } ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw CommandFailure.usage("invalid --log-level '\(text)': use trace, debug, info, notice, warning, error or critical")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "opscore")
        logger.logLevel = level
        return logger
    }

    /// Everything a command needs to reach the sessions.
    func lifecycle(poolSize: Int = 1) throws -> (SessionLifecycle, Logger) {
        let logger = try logger()
        let pool = RedisConnectionPool(configuration: try redisConfiguration(), size: poolSize)
        let lifecycle = try SessionLifecycle(
            pool: pool, namespace: try resolvedNamespace(), origin: resolvedOrigin, logger: logger, waitReplicas: try resolvedWaitReplicas())
        return (lifecycle, logger)
    }
}
