/// One committed change, as published on `<namespace>:events`.
///
/// The JSON form is one object: `type`, `session_id`, `agent_id`, `workflow_id`,
/// `status`, `previous_status` (`null` for `session.started`), `version`,
/// `changed` (field names), `at` (Redis time of the change) and `origin` (the
/// writer's host name).
public struct SessionEvent: Sendable, Hashable {
    /// The kind of change.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case started = "session.started"
        case updated = "session.updated"
        case ended = "session.ended"
        case expired = "session.expired"
        case deleted = "session.deleted"
    }

    /// The kind of change.
    public var kind: Kind
    /// The session changed.
    public var sessionID: SessionID
    /// Its agent.
    public var agentID: String
    /// Its workflow.
    public var workflowID: String
    /// Its status after the change.
    public var status: SessionStatus
    /// Its status before the change, `nil` for a start.
    public var previousStatus: SessionStatus?
    /// Its version after the change (for a delete: the last version).
    public var version: Int64
    /// The hash fields the change wrote.
    public var changed: [String]
    /// When the change was made (Redis server time).
    public var at: Timestamp
    /// The host name of the writer.
    public var origin: String

    /// Creates an event.
    public init(
        kind: Kind, sessionID: SessionID, agentID: String, workflowID: String, status: SessionStatus,
        previousStatus: SessionStatus?, version: Int64, changed: [String], at: Timestamp, origin: String
    ) {
        self.kind = kind
        self.sessionID = sessionID
        self.agentID = agentID
        self.workflowID = workflowID
        self.status = status
        self.previousStatus = previousStatus
        self.version = version
        self.changed = changed
        self.at = at
        self.origin = origin
    }

    /// The event's JSON text as bytes, fields in the documented order.
    public var jsonBytes: [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(320)
        func field(_ name: StaticString, first: Bool = false) {
            if !first { buffer.append(UInt8(ascii: ",")) }
            buffer.append(UInt8(ascii: "\""))
            buffer.append(contentsOf: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            buffer.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        buffer.append(UInt8(ascii: "{"))
        field("type", first: true); JSONValue.writeString(kind.rawValue, to: &buffer)
        field("session_id"); JSONValue.writeString(sessionID.text, to: &buffer)
        field("agent_id"); JSONValue.writeString(agentID, to: &buffer)
        field("workflow_id"); JSONValue.writeString(workflowID, to: &buffer)
        field("status"); JSONValue.writeString(status.rawValue, to: &buffer)
        field("previous_status")
        if let previousStatus { JSONValue.writeString(previousStatus.rawValue, to: &buffer) } else { buffer.append(contentsOf: "null".utf8) }
        field("version"); buffer.append(contentsOf: String(version).utf8)
        field("changed"); buffer.append(UInt8(ascii: "["))
        for (index, name) in changed.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            JSONValue.writeString(name, to: &buffer)
        }
        buffer.append(UInt8(ascii: "]"))
        field("at"); buffer.append(UInt8(ascii: "\"")); buffer.append(contentsOf: at.iso8601Bytes); buffer.append(UInt8(ascii: "\""))
        field("origin"); JSONValue.writeString(origin, to: &buffer)
        buffer.append(UInt8(ascii: "}"))
        return buffer
    }

    /// Reads an event from its JSON text.
    /// - Returns: `nil` when the bytes are not an event of this shape.
    public init?(json bytes: [UInt8]) {
        guard case .object(let object)? = try? JSONValue(parsing: bytes),
              let kind = object["type"]?.stringValue.flatMap(Kind.init(rawValue:)),
              let sessionID = object["session_id"]?.stringValue.flatMap(SessionID.init),
              let agentID = object["agent_id"]?.stringValue,
              let workflowID = object["workflow_id"]?.stringValue,
              let status = object["status"]?.stringValue.flatMap(SessionStatus.init(rawValue:)),
              let version = object["version"]?.integerValue,
              let changed = object["changed"]?.arrayValue?.compactMap(\.stringValue),
              let at = object["at"]?.stringValue.flatMap({ Timestamp(iso8601: Array($0.utf8)) }),
              let origin = object["origin"]?.stringValue
        else { return nil }
        self.init(
            kind: kind, sessionID: sessionID, agentID: agentID, workflowID: workflowID, status: status,
            previousStatus: object["previous_status"]?.stringValue.flatMap(SessionStatus.init(rawValue:)),
            version: version, changed: changed, at: at, origin: origin)
    }
}
