/// Where a session is in its life.
///
/// `active` ⇄ `paused`; `active`/`paused` → `completed`, `failed`, `cancelled`
/// (ending) or `expired` (idle timeout). Ended and expired sessions are frozen.
public enum SessionStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case active, paused, completed, failed, cancelled, expired

    /// `true` for the frozen states: `completed`, `failed`, `cancelled`, `expired`.
    public var isFinal: Bool {
        switch self {
        case .active, .paused: return false
        case .completed, .failed, .cancelled, .expired: return true
        }
    }

    /// `true` for the states `end` may set: `completed`, `failed`, `cancelled`.
    public var isEnding: Bool {
        self == .completed || self == .failed || self == .cancelled
    }

    /// Whether a session in this status may move to `next`. Staying put is allowed
    /// while the session is not frozen (a metadata-only change).
    public func canTransition(to next: SessionStatus) -> Bool {
        !isFinal
    }
}
