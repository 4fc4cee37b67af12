import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The stop switch of a ``RedisSubscriber``: a flag and a wake-up pipe that
/// `poll` watches next to the socket, so a stop never waits on a socket read.
final class SubscriberControl: @unchecked Sendable {
    // @unchecked Sendable: the flags are only touched while `lock` is held; the
    // pipe's descriptors never change and writing one byte to a pipe is thread safe.
    private let lock = NSLock()
    private var stopped = false
    private var started = false
    private let wakeRead: Int32
    private let wakeWrite: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) != 0 { fds = [-1, -1] }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        _ = fcntl(wakeRead, F_SETFL, fcntl(wakeRead, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// The descriptor that becomes readable on stop.
    var wakeDescriptor: Int32 { wakeRead }

    /// Whether stop was called.
    var isStopped: Bool { lock.withLock { stopped } }

    /// Marks the subscriber started; `false` when it already was, or was stopped.
    func markStarted() -> Bool {
        lock.withLock {
            guard !started, !stopped else { return false }
            started = true
            return true
        }
    }

    /// Sets the flag and wakes the subscriber thread.
    /// - Returns: Whether it was already stopped, and whether it had been started.
    @discardableResult
    func stop() -> (wasStopped: Bool, wasStarted: Bool) {
        let (wasStopped, wasStarted) = lock.withLock { () -> (Bool, Bool) in
            defer { stopped = true }
            return (stopped, started)
        }
        if !wasStopped {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
        return (wasStopped, wasStarted)
    }
}
