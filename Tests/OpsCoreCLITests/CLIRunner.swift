import Foundation
import OpsCore
import RedisTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Runs the `opscore` binary as a child process with pipes on stdin, stdout and
// stderr: posix_spawn + waitpid (Foundation's Process.waitUntilExit can hang off
// the main thread on Linux), each output pipe drained by a thread of its own.

/// Where the `opscore` executable is: next to the test bundle, in the same build directory.
let opscoreExecutablePath: String = {
    let directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    return directory.appendingPathComponent("opscore").path
}()

/// The test process's environment without any `OPSCORE_*` variable, plus `extra`.
func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OPSCORE_") }
    for (name, value) in extra { environment[name] = value }
    return environment
}

/// How a finished child ended: its exit code, or the signal that killed it.
struct ExitStatus: Sendable, Equatable, CustomStringConvertible {
    var code: Int32?
    var signal: Int32?

    init(rawWaitStatus status: Int32) {
        if status & 0x7f == 0 {
            code = (status >> 8) & 0xff
        } else {
            signal = status & 0x7f
        }
    }

    static func exited(_ code: Int32) -> ExitStatus { ExitStatus(rawWaitStatus: code << 8) }

    var description: String {
        if let code { return "exit \(code)" }
        return "signal \(signal ?? -1)"
    }
}

/// The outcome of a finished `opscore` run.
struct CLIResult: Sendable, CustomStringConvertible {
    var status: ExitStatus
    var stdout: String
    var stderr: String

    /// The exit code, or -1 when a signal ended the process.
    var exitCode: Int32 { status.code ?? -1 }

    /// The non-empty lines printed on stdout.
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    /// The non-empty lines printed on stderr.
    var errorLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    var description: String { "\(status); stdout: \(stdout.debugDescription); stderr: \(stderr.debugDescription)" }
}

/// A byte sink filled by a reader thread, with waits on its content.
final class OutputCollector: @unchecked Sendable {
    // @unchecked Sendable: `bytes` and `finished` are only touched while `condition` is locked.
    private let condition = NSCondition()
    private var bytes: [UInt8] = []
    private var finished = false

    /// Starts a thread that reads `descriptor` until end of file, then closes it
    /// (a negative descriptor: nothing to read, finished at once).
    init(descriptor: Int32) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                guard descriptor >= 0 else { break }
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                condition.lock()
                bytes.append(contentsOf: buffer[0..<count])
                condition.broadcast()
                condition.unlock()
            }
            if descriptor >= 0 { close(descriptor) }
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "opscore-test-pipe-reader"
        thread.start()
    }

    /// Everything read so far.
    var text: String {
        condition.lock()
        defer { condition.unlock() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The complete lines read so far (a trailing partial line is left out).
    var completeLines: [String] {
        condition.lock()
        defer { condition.unlock() }
        return Self.completeLines(bytes)
    }

    /// Waits until `count` complete non-empty lines were read, end of file, or the timeout.
    /// - Returns: The complete lines read by then.
    @discardableResult
    func waitForLines(_ count: Int, timeout: TimeInterval) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while Self.completeLines(bytes).count < count && !finished {
            if !condition.wait(until: deadline) { break }
        }
        return Self.completeLines(bytes)
    }

    /// Waits until the writer side closed (the child exited and its descendants too) or the timeout.
    /// - Returns: `true` when end of file was reached.
    @discardableResult
    func waitForEnd(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !finished {
            if !condition.wait(until: deadline) { break }
        }
        return finished
    }

    private static func completeLines(_ bytes: [UInt8]) -> [String] {
        guard let lastNewline = bytes.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        return bytes[...lastNewline].split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// A running `opscore` process with its stdin writable and its stdout/stderr collected.
final class CLIProcess: @unchecked Sendable {
    // @unchecked Sendable: `stdinDescriptor` and `exitStatus` are guarded by `lock`.
    let pid: pid_t
    let stdout: OutputCollector
    let stderr: OutputCollector
    private let lock = NSLock()
    private var stdinDescriptor: Int32
    private var exitStatus: ExitStatus?

    /// Writing to a pipe whose reader exited must fail with EPIPE, not kill the test runner.
    private static let ignoreSIGPIPE: Void = {
        ignoreSignal(SIGPIPE)
    }()

    /// Serializes pipe creation and spawning, so that no child started by this
    /// helper inherits another child's pipe ends before they are marked close-on-exec.
    private static let spawnLock = NSLock()

    /// Starts `opscore` with `arguments` and the given environment.
    /// - Parameters:
    ///   - stdinBytes: Written to stdin and then closed; `nil` keeps stdin open for ``write(_:)``.
    ///   - stdoutReaderGone: Close the read end of the stdout pipe at once, as when
    ///     the reader of `opscore … | head -n 1` has exited.
    init(_ arguments: [String], environment: [String: String], stdinBytes: [UInt8]? = nil, stdoutReaderGone: Bool = false) throws {
        Self.ignoreSIGPIPE
        let path = opscoreExecutablePath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestServerError("opscore executable not found at \(path); build with swift build --build-tests")
        }
        // Close-on-exec on every end, so children spawned concurrently by other tests
        // never hold our pipes open; dup2 in the child clears the flag on 0, 1 and 2.
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw TestServerError("pipe failed: \(String(cString: strerror(errno)))") }
            for descriptor in fds { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        let input = try makePipe()
        let output = try makePipe()
        let errors = try makePipe()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, errors.write, 2)

        let spawned = spawnWithDefaultSignals(path: path, arguments: arguments, environment: environment, actions: &actions)
        close(input.read)
        close(output.write)
        close(errors.write)
        switch spawned {
        case .success(let child):
            pid = child
        case .failure(let error):
            close(input.write)
            close(output.read)
            close(errors.read)
            throw TestServerError("could not start \(path): \(error)")
        }
        stdinDescriptor = input.write
        if stdoutReaderGone {
            close(output.read)
            stdout = OutputCollector(descriptor: -1)
        } else {
            stdout = OutputCollector(descriptor: output.read)
        }
        stderr = OutputCollector(descriptor: errors.read)
        if let stdinBytes {
            write(stdinBytes)
            closeStdin()
        }
    }

    deinit {
        closeStdin()
        if exitStatus == nil {
            sendSignal(SIGKILL, to: pid)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
    }

    /// Writes bytes to the child's stdin (blocks while the pipe is full).
    /// - Returns: `false` when stdin is closed or the child stopped reading.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        let descriptor = lock.withLock { stdinDescriptor }
        guard descriptor >= 0 else { return false }
        return LineOutput.writeAll(bytes, to: descriptor)
    }

    /// Writes text to the child's stdin.
    @discardableResult
    func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Closes the child's stdin (end of input).
    func closeStdin() {
        lock.withLock {
            if stdinDescriptor >= 0 {
                close(stdinDescriptor)
                stdinDescriptor = -1
            }
        }
    }

    /// Sends a signal, if the child has not been reaped.
    func signal(_ number: Int32) {
        lock.withLock {
            if exitStatus == nil { sendSignal(number, to: pid) }
        }
    }

    /// Waits up to `timeout` for the child to exit; `nil` when it is still running.
    func waitForExit(timeout: TimeInterval) -> ExitStatus? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let reaped: ExitStatus? = lock.withLock {
                if let exitStatus { return exitStatus }
                var status: Int32 = 0
                let result = waitpid(pid, &status, WNOHANG)
                if result == pid {
                    exitStatus = ExitStatus(rawWaitStatus: status)
                    return exitStatus
                }
                return nil
            }
            if let reaped { return reaped }
            if Date() >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// Kills the child with SIGKILL (if still running) and reaps it.
    func kill() {
        signal(SIGKILL)
        _ = waitForExit(timeout: 10)
    }

    /// Waits for exit (killing the child after `timeout`) and for both pipes to drain.
    func finish(timeout: TimeInterval) -> CLIResult {
        var status = waitForExit(timeout: timeout)
        if status == nil {
            kill()
            status = waitForExit(timeout: 5)
        }
        stdout.waitForEnd(timeout: 5)
        stderr.waitForEnd(timeout: 5)
        return CLIResult(status: status ?? ExitStatus(rawWaitStatus: SIGKILL), stdout: stdout.text, stderr: stderr.text)
    }
}

/// Runs `opscore` to completion on a thread of its own.
/// - Parameters:
///   - arguments: The command line after the program name.
///   - environment: The child's whole environment (see ``childEnvironment(_:)``).
///   - stdin: Bytes for stdin, which is then closed.
///   - timeout: After this the child is killed (and the result shows the signal).
func runOpscore(
    _ arguments: [String], environment: [String: String] = childEnvironment(), stdin: [UInt8] = [], timeout: TimeInterval = 20
) async throws -> CLIResult {
    try await onOwnThread {
        let process = try CLIProcess(arguments, environment: environment, stdinBytes: stdin)
        return process.finish(timeout: timeout)
    }
}
