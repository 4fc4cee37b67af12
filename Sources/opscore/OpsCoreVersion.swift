import Redis

/// What `opscore --version` prints.
enum OpsCoreVersion {
    /// The release of OpsCore (the design contract it implements is v2).
    static let release = "2.0.0"

    /// `opscore 2.0.0 (commit …, hiredis 0.14.1)`.
    static var text: String { "opscore \(release) (commit \(buildCommit), hiredis \(Hiredis.version))" }
}
