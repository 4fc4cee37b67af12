public import Foundation
public import Redis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real `redis-server` process for tests: its own port, its own temporary
/// directory, no persistence unless asked for. Started by ``start(options:)``,
/// stopped by ``stop()`` (and on deinit).
///
/// When the environment variable `OPSCORE_TEST_REDIS_URL` is set (the compose
/// setup), ``shared()`` uses that server instead of starting one.
public final class RedisTestServer: @unchecked Sendable {
    // @unchecked Sendable: the mutable `process` is guarded by `lock`.
    /// Options for the server process.
    public struct Options: Sendable {
        /// `requirepass`, if any.
        public var password: String?
        /// Extra `redis-server` arguments, such as `["--appendonly", "yes"]`.
        public var extraArguments: [String]
        /// Also listen on a unix socket in the server's directory.
        public var unixSocket: Bool
        /// Run as a sentinel (`--sentinel`, from a config file in its directory) that
        /// monitors the primary on 127.0.0.1 at `port` as `masterName`, quorum 1.
        public var sentinelOf: SentinelTarget?
        /// Creates options.
        public init(password: String? = nil, extraArguments: [String] = [], unixSocket: Bool = false, sentinelOf: SentinelTarget? = nil) {
            self.password = password
            self.extraArguments = extraArguments
            self.unixSocket = unixSocket
            self.sentinelOf = sentinelOf
        }
    }

    /// The primary a test sentinel monitors.
    public struct SentinelTarget: Sendable {
        /// The name the sentinel knows the primary by.
        public var masterName: String
        /// The primary's port on 127.0.0.1.
        public var port: Int
        /// Creates a target.
        public init(masterName: String, port: Int) {
            self.masterName = masterName
            self.port = port
        }
    }

    /// The TCP port the server listens on.
    public let port: Int
    /// The server's own directory (data, log, socket).
    public let directory: URL
    /// The options it was started with.
    public let options: Options
    /// A configuration that reaches the server over TCP (with the password, if any).
    public let configuration: RedisConfiguration
    private let lock = NSLock()
    private var process: ChildProcess?
    private let external: Bool

    /// The unix socket path, when ``Options/unixSocket`` was set.
    public var socketPath: String { directory.appendingPathComponent("redis.sock").path }

    private init(port: Int, directory: URL, options: Options, configuration: RedisConfiguration, external: Bool) {
        self.port = port
        self.directory = directory
        self.options = options
        self.configuration = configuration
        self.external = external
    }

    /// Starts a new server on a free port and waits until it answers.
    /// - Throws: When `redis-server` cannot be found or does not answer within 10 s.
    public static func start(options: Options = Options()) throws -> RedisTestServer {
        var lastError: (any Error)?
        for _ in 0..<5 {
            // A directory per attempt: a failed attempt's deinit removes its own.
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("opscore-redis-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let port = Int.random(in: 20_000...32_000)  // below Linux's ephemeral port range
            let server = RedisTestServer(
                port: port,
                directory: directory,
                options: options,
                configuration: RedisConfiguration(
                    endpoint: .tcp(host: "127.0.0.1", port: port),
                    password: options.password,
                    connectTimeout: .seconds(2),
                    commandTimeout: .seconds(5)
                ),
                external: false
            )
            do {
                try server.launch()
                return server
            } catch {
                lastError = error
                server.stop()
            }
        }
        throw lastError ?? TestServerError("could not start redis-server")
    }

    /// A server shared by many tests: the one named by `OPSCORE_TEST_REDIS_URL`,
    /// a Redis Cluster started once when `OPSCORE_TEST_TOPOLOGY` is `cluster`, or
    /// one server started once for the whole test process. Tests sharing it must use
    /// their own key prefix (see ``uniquePrefix(_:)``).
    ///
    /// On a Cluster, ``configuration`` is a `redis-cluster://` one with every node as
    /// a seed, ``port`` is the first node's, and raw reads go through
    /// ``RedisTestClient``, which sends each command to the node owning its key.
    public static func shared() throws -> RedisTestServer {
        try sharedLock.withLock {
            if let existing = sharedServer { return existing }
            let server: RedisTestServer
            if isClusterRun {
                let cluster = try RedisTestCluster.start()
                server = RedisTestServer(
                    port: cluster.nodes[0].port, directory: cluster.nodes[0].directory, options: Options(),
                    configuration: cluster.configuration, external: true)
                sharedCluster = cluster
                sharedClusterPIDs = cluster.pids
                atexit {
                    for pid in RedisTestServer.sharedClusterPIDs { _ = sendSignal(SIGKILL, to: pid) }
                }
            } else if let url = ProcessInfo.processInfo.environment["OPSCORE_TEST_REDIS_URL"], !url.isEmpty {
                let configuration = try RedisConfiguration(url: url)
                var port = 6379
                if case .tcp(_, let p) = configuration.endpoint { port = p }
                server = RedisTestServer(
                    port: port, directory: FileManager.default.temporaryDirectory, options: Options(),
                    configuration: configuration, external: true)
            } else {
                server = try start()
                // Static values are never deinitialized: stop the shared server at exit.
                sharedPID = server.lock.withLock { server.process?.pid } ?? 0
                atexit {
                    if RedisTestServer.sharedPID > 0 { sendSignal(SIGKILL, to: RedisTestServer.sharedPID) }
                }
            }
            sharedServer = server
            return server
        }
    }

    /// Whether this test process shares a Redis Cluster (`OPSCORE_TEST_TOPOLOGY=cluster`)
    /// instead of a single server.
    public static var isClusterRun: Bool { ProcessInfo.processInfo.environment["OPSCORE_TEST_TOPOLOGY"] == "cluster" }

    /// Whether ``configuration`` reaches a Redis Cluster.
    public var isCluster: Bool { configuration.cluster != nil }

    /// The URL `opscore --redis-url` takes to reach this server (or Cluster).
    public var url: String { configuration.url(redactingPassword: false) }

    /// The server process's id while it runs.
    public var pid: pid_t? { lock.withLock { process?.pid } }

    nonisolated(unsafe) private static var sharedServer: RedisTestServer?
    nonisolated(unsafe) private static var sharedCluster: RedisTestCluster?
    nonisolated(unsafe) private static var sharedClusterPIDs: [pid_t] = []
    nonisolated(unsafe) private static var sharedPID: pid_t = 0
    private static let sharedLock = NSLock()

    /// A key prefix no other test uses.
    public static func uniquePrefix(_ name: String = "test") -> String {
        "\(name)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Opens a new connection to this server.
    public func connect() throws -> RedisConnection {
        try RedisConnection(configuration: configuration)
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    public func stop() {
        signal(SIGTERM)
        waitForExit()
    }

    /// Kills the server with SIGKILL and waits for it to exit.
    public func kill() {
        signal(SIGKILL)
        waitForExit()
    }

    /// Freezes the server (SIGSTOP); it keeps its sockets but answers nothing.
    public func pause() { signal(SIGSTOP) }

    /// Thaws a paused server (SIGCONT).
    public func resume() { signal(SIGCONT) }

    /// Starts the server again on the same port and directory (after ``stop()`` or ``kill()``).
    public func restart() throws {
        try launch()
    }

    deinit {
        if !external {
            signal(SIGKILL)
            waitForExit()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    private func signal(_ number: Int32) {
        lock.withLock { process }?.signal(number)
    }

    private func waitForExit() {
        let running = lock.withLock { process }
        running?.waitForExit()
        lock.withLock { process = nil }
    }

    private func launch() throws {
        guard !external else { return }
        let arguments = try serverArguments()
        let process = try ChildProcess(path: try Self.redisServerPath().path, arguments: arguments)
        lock.withLock { self.process = process }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if !process.isRunning {
                throw TestServerError("redis-server exited at start (port \(port) taken?)")
            }
            if let connection = try? RedisConnection(configuration: configuration),
               let info = try? connection.send("INFO", "server").text {
                // Make sure the server answering is ours, not another one holding the port.
                guard info.contains("process_id:\(process.pid)\r\n") else {
                    process.signal(SIGKILL)
                    process.waitForExit()
                    throw TestServerError("port \(port) is held by another server")
                }
                return
            }
            usleep(20_000)
        }
        throw TestServerError("redis-server did not answer within 10 s")
    }

    /// The command line: a server's options, or a sentinel's config file and options.
    private func serverArguments() throws -> [String] {
        if let target = options.sentinelOf {
            // A sentinel reads (and rewrites) a config file, which comes first on its command line.
            let file = directory.appendingPathComponent("sentinel.conf")
            try "sentinel monitor \(target.masterName) 127.0.0.1 \(target.port) 1\n".write(to: file, atomically: true, encoding: .utf8)
            return [file.path, "--sentinel", "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path,
                    "--daemonize", "no", "--logfile", directory.appendingPathComponent("sentinel.log").path]
        }
        var arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--dir", directory.path,
            "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--logfile", directory.appendingPathComponent("redis.log").path,
            "--enable-debug-command", "local",
        ]
        if options.unixSocket {
            arguments += ["--unixsocket", socketPath, "--unixsocketperm", "700"]
        }
        if let password = options.password {
            arguments += ["--requirepass", password]
        }
        return arguments + options.extraArguments
    }

    private static func redisServerPath() throws -> URL {
        for candidate in ["/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return URL(fileURLWithPath: candidate)
        }
        throw TestServerError("redis-server not found; install it (apt-get install redis-server)")
    }
}

/// A failure of the test harness itself.
public struct TestServerError: Error, CustomStringConvertible {
    /// What went wrong.
    public let description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}
