/// One finding of ``DeploymentDoctor``: what was checked, how it went, and what to do.
public struct DoctorCheck: Sendable, Hashable {
    /// How a check went.
    public enum Status: String, Sendable, Hashable, Comparable {
        /// Healthy.
        case ok
        /// Works, but something deserves attention; does not fail `doctor`.
        case warn
        /// Broken or dangerous; `doctor` exits 1.
        case fail

        private var rank: Int { self == .ok ? 0 : self == .warn ? 1 : 2 }
        public static func < (lhs: Status, rhs: Status) -> Bool { lhs.rank < rhs.rank }
    }

    /// The check's name, such as `maxmemory_policy`.
    public var name: String
    /// How it went.
    public var status: Status
    /// One line for people: what was seen and, unless ok, what to do.
    public var detail: String

    /// Creates a finding.
    public init(_ name: String, _ status: Status, _ detail: String) {
        self.name = name
        self.status = status
        self.detail = detail
    }
}
