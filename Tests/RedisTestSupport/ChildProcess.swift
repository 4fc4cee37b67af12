import Foundation
#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
public import Darwin
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid`.
///
/// Foundation's `Process.waitUntilExit` can hang on Linux when called off the
/// main thread, so the harness manages its servers with the plain system calls.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked Sendable: `exitStatus` is guarded by `lock`.
    /// The process id.
    public let pid: pid_t
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `path` with `arguments`, stdin from /dev/null, stdout and stderr to `outputPath` (or /dev/null).
    public init(path: String, arguments: [String], outputPath: String? = nil, environment: [String: String]? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let output = outputPath ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        switch spawnWithDefaultSignals(
            path: path, arguments: arguments,
            environment: environment ?? ProcessInfo.processInfo.environment, actions: &actions
        ) {
        case .success(let child): pid = child
        case .failure(let error): throw TestServerError("could not start \(path): \(error)")
        }
    }

    /// Sends a signal to the process, if it is still running.
    public func signal(_ number: Int32) {
        lock.withLock {
            if exitStatus == nil { sendSignal(number, to: pid) }
        }
    }

    /// `true` while the process has not exited.
    public var isRunning: Bool {
        lock.withLock {
            if exitStatus != nil { return false }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                exitStatus = status
                return false
            }
            return true
        }
    }

    /// Blocks until the process exits and returns its raw wait status.
    @discardableResult
    public func waitForExit() -> Int32 {
        lock.withLock {
            if let exitStatus { return exitStatus }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            exitStatus = status
            return status
        }
    }
}
