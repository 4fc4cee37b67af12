import Foundation
import OpsCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `consume --exec COMMAND` for one event: `/bin/sh -c COMMAND` with the
/// event JSON (with `stream_id`) on stdin and `OPSCORE_EVENT_TYPE`,
/// `OPSCORE_SESSION_ID`, `OPSCORE_EVENT_VERSION`, `OPSCORE_STREAM_ID` in its
/// environment; its stdout and stderr are this process's. Blocks until it exits.
struct ShellHandler: Sendable {
    let command: String

    /// The command's exit status (128 + the signal when a signal ended it; 127 when it could not start).
    func run(_ entry: FeedEntry) -> Int32 {
        let event = entry.event
        var environment = ProcessInfo.processInfo.environment
        environment["OPSCORE_EVENT_TYPE"] = event?.kind.rawValue ?? ""
        environment["OPSCORE_SESSION_ID"] = event?.sessionID.text ?? ""
        environment["OPSCORE_EVENT_VERSION"] = event.map { "\($0.version)" } ?? ""
        environment["OPSCORE_STREAM_ID"] = entry.streamID.description
        var input = entry.jsonWithStreamID ?? entry.payload
        input.append(UInt8(ascii: "\n"))

        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return 127 }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child gets default SIGPIPE, SIGINT and SIGTERM handling and no blocked signals.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP] { sigaddset(&defaults, signal) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let arguments = ["/bin/sh", "-c", command]
        let environmentLines = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let spawned = withCStrings(arguments) { argv in
            withCStrings(environmentLines) { envp in
                posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, envp)
            }
        }
        close(fds[0])
        guard spawned == 0 else {
            close(fds[1])
            return 127
        }
        // An event is a few hundred bytes: one write fits the pipe; a handler that
        // never reads stdin cannot block us. A handler that exits early gives EPIPE.
        input.withUnsafeBytes { _ = write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let low = status & 0x7f
        return low == 0 ? (status >> 8) & 0xff : 128 + low
    }
}

/// Calls `body` with a NULL-terminated C array of the strings.
private func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
    var pointers = strings.map { strdup($0) }
    pointers.append(nil)
    defer { pointers.forEach { free($0) } }
    return body(pointers)
}
