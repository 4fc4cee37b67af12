#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes whole lines to a file descriptor with plain `write(2)`, retrying
/// short writes and `EINTR`, so each line reaches a pipe reader in full.
public enum LineOutput {
    /// Writes `bytes` and a newline to `descriptor`.
    /// - Returns: `false` when the line could not be written, e.g. the reader is
    ///   gone (`EPIPE`; SIGPIPE is ignored once a Redis connection exists).
    @discardableResult
    public static func write(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        var line = bytes
        line.append(UInt8(ascii: "\n"))
        return writeAll(line, to: descriptor)
    }

    /// Writes all of `bytes` to `descriptor`, retrying short writes and `EINTR`.
    /// - Returns: `false` when the bytes could not all be written.
    @discardableResult
    public static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = systemWrite(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }
}

/// `write(2)`, named apart from ``LineOutput/write(_:to:)``.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, buffer, count)
}
