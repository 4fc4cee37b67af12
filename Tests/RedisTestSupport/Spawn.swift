#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
public import Darwin
#endif

/// Starts `path` with `posix_spawn`, giving the child an empty signal mask and
/// default SIGPIPE, SIGTERM, SIGINT and SIGHUP handling.
///
/// A child inherits the spawning thread's signal mask and ignored signals; the
/// test runner's threads block signals (and the Redis client ignores SIGPIPE),
/// so without the reset a child would never see SIGTERM.
/// - Returns: The child's pid, or the `posix_spawn` error number.
public func spawnWithDefaultSignals(
    path: String, arguments: [String], environment: [String: String], actions: inout posix_spawn_file_actions_t
) -> Result<pid_t, SpawnError> {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var emptySet = sigset_t()
    sigemptyset(&emptySet)
    posix_spawnattr_setsigmask(&attributes, &emptySet)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for number in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, number) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { envp.forEach { free($0) } }
    var child: pid_t = 0
    let status = posix_spawn(&child, path, &actions, &attributes, argv, envp)
    return status == 0 ? .success(child) : .failure(SpawnError(code: status))
}

/// A failed `posix_spawn`.
public struct SpawnError: Error, CustomStringConvertible {
    /// The error number `posix_spawn` returned.
    public let code: Int32
    public var description: String { String(cString: strerror(code)) }
}

/// `kill(2)`, under a name that methods called `kill` or `signal` do not shadow.
@discardableResult
public func sendSignal(_ number: Int32, to pid: pid_t) -> Int32 {
    kill(pid, number)
}

/// `signal(2)` with `SIG_IGN`, under a name that methods called `signal` do not shadow.
public func ignoreSignal(_ number: Int32) {
    _ = signal(number, SIG_IGN)
}
