/// One run of a workflow by an agent, as stored in its Redis hash.
public struct Session: Sendable, Hashable {
    /// The session's id.
    public var id: SessionID
    /// The agent running the workflow.
    public var agentID: String
    /// The workflow being run.
    public var workflowID: String
    /// Where the session is in its life.
    public var status: SessionStatus
    /// When the session started (Redis server time).
    public var startTime: Timestamp
    /// When the session last changed (Redis server time).
    public var lastUpdatedTime: Timestamp
    /// Free-form metadata, a JSON object.
    public var metadata: [String: JSONValue]
    /// 1 at start, +1 on every committed change.
    public var version: Int64

    /// Creates a session value.
    public init(
        id: SessionID, agentID: String, workflowID: String, status: SessionStatus,
        startTime: Timestamp, lastUpdatedTime: Timestamp, metadata: [String: JSONValue], version: Int64
    ) {
        self.id = id
        self.agentID = agentID
        self.workflowID = workflowID
        self.status = status
        self.startTime = startTime
        self.lastUpdatedTime = lastUpdatedTime
        self.metadata = metadata
        self.version = version
    }
}

extension Session {
    /// The session as the JSON object the CLI prints: the hash's field names,
    /// `metadata` nested, `version` a number.
    public var jsonValue: JSONValue {
        .object([
            "session_id": .string(id.text),
            "agent_id": .string(agentID),
            "workflow_id": .string(workflowID),
            "status": .string(status.rawValue),
            "start_time": .string(startTime.description),
            "last_updated_time": .string(lastUpdatedTime.description),
            "metadata": .object(metadata),
            "version": .integer(version),
        ])
    }

    /// Appends the session's JSON object to `buffer`, fields in the hash's order.
    public func writeJSON(to buffer: inout [UInt8]) {
        func field(_ name: String, first: Bool = false) {
            if !first { buffer.append(UInt8(ascii: ",")) }
            JSONValue.writeString(name, to: &buffer)
            buffer.append(UInt8(ascii: ":"))
        }
        buffer.append(UInt8(ascii: "{"))
        field("session_id", first: true); JSONValue.writeString(id.text, to: &buffer)
        field("agent_id"); JSONValue.writeString(agentID, to: &buffer)
        field("workflow_id"); JSONValue.writeString(workflowID, to: &buffer)
        field("status"); JSONValue.writeString(status.rawValue, to: &buffer)
        field("start_time"); JSONValue.writeString(startTime.description, to: &buffer)
        field("last_updated_time"); JSONValue.writeString(lastUpdatedTime.description, to: &buffer)
        field("metadata"); JSONValue.object(metadata).write(to: &buffer)
        field("version"); buffer.append(contentsOf: String(version).utf8)
        buffer.append(UInt8(ascii: "}"))
    }
}
