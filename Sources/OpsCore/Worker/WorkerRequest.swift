/// One request line of the `opscore worker` protocol, parsed and checked.
///
/// A line is a JSON object: `id` (echoed back as given), `op` (`start`,
/// `update`, `end`, `get`, `delete`, `register_agent`) and the fields the op
/// needs: `session_id`, `agent_id`, `workflow_id`, `status`, `metadata`,
/// `expected_version`.
public struct WorkerRequest: Sendable, Hashable {
    /// What to do.
    public enum Operation: Sendable, Hashable {
        case start(agentID: String, workflowID: String, metadata: [String: JSONValue], sessionID: SessionID?)
        case update(SessionID, SessionUpdate)
        case end(SessionID, SessionStatus)
        case get(SessionID)
        case delete(SessionID)
        case registerAgent([String])

        /// The request's `op` as written: `start`, `update`, `end`, `get`, `delete`, `register_agent`.
        public var name: String {
            switch self {
            case .start: "start"
            case .update: "update"
            case .end: "end"
            case .get: "get"
            case .delete: "delete"
            case .registerAgent: "register_agent"
            }
        }
    }

    /// The request's `id`, echoed in the reply; `.null` when absent.
    public var id: JSONValue
    /// What to do.
    public var operation: Operation

    /// A request line that could not be turned into a request.
    public struct Refusal: Error, Sendable, Hashable {
        /// The id, when one could be read; `.null` otherwise.
        public var id: JSONValue
        /// `invalid_request` or `invalid_input`.
        public var code: String
        /// Why.
        public var message: String
    }

    /// The longest request line accepted, in bytes.
    public static let maximumLineBytes = 1 << 20

    /// Parses one request line.
    /// - Throws: ``Refusal`` with code `invalid_request` (not a JSON object, no or
    ///   unknown `op`) or `invalid_input` (a field of the wrong type or value).
    public init(line: some Collection<UInt8>) throws(Refusal) {
        guard line.count <= Self.maximumLineBytes else {
            throw Refusal(id: .null, code: "invalid_request", message: "request line longer than \(Self.maximumLineBytes) bytes")
        }
        let parsed: JSONValue
        do {
            parsed = try JSONValue(parsing: line)
        } catch {
            throw Refusal(id: .null, code: "invalid_request", message: "request is not valid JSON (\(error))")
        }
        guard case .object(let object) = parsed else {
            throw Refusal(id: .null, code: "invalid_request", message: "request must be a JSON object")
        }
        let id: JSONValue
        switch object["id"] {
        case nil: id = .null
        case .string?, .integer?, .null?: id = object["id"]!
        default: throw Refusal(id: .null, code: "invalid_request", message: "id must be a string or an integer")
        }
        self.id = id
        func refuse(_ code: String, _ message: String) -> Refusal { Refusal(id: id, code: code, message: message) }
        guard let op = object["op"]?.stringValue else { throw refuse("invalid_request", "request has no op") }
        func string(_ name: String) throws(Refusal) -> String? {
            switch object[name] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            default: throw refuse("invalid_input", "\(name) must be a string")
            }
        }
        func required(_ name: String) throws(Refusal) -> String {
            guard let value = try string(name) else { throw refuse("invalid_input", "\(op) needs \(name)") }
            return value
        }
        func sessionID() throws(Refusal) -> SessionID {
            let text = try required("session_id")
            guard let id = SessionID(text) else { throw refuse("invalid_input", "session_id is not a UUID") }
            return id
        }
        func status() throws(Refusal) -> SessionStatus? {
            guard let text = try string("status") else { return nil }
            guard let status = SessionStatus(rawValue: text) else {
                throw refuse("invalid_input", "status must be one of \(SessionStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return status
        }
        func metadata() throws(Refusal) -> [String: JSONValue]? {
            switch object["metadata"] {
            case nil, .null?: return nil
            case .object(let value)?: return value
            default: throw refuse("invalid_input", "metadata must be a JSON object")
            }
        }
        switch op {
        case "start":
            var explicitID: SessionID?
            if object["session_id"] != nil && object["session_id"] != .null { explicitID = try sessionID() }
            operation = .start(agentID: try required("agent_id"), workflowID: try required("workflow_id"),
                               metadata: try metadata() ?? [:], sessionID: explicitID)
        case "update":
            var expected: Int64?
            switch object["expected_version"] {
            case nil, .null?: expected = nil
            case .integer(let value)?: expected = value
            default: throw refuse("invalid_input", "expected_version must be an integer")
            }
            operation = .update(try sessionID(), SessionUpdate(status: try status(), metadataPatch: try metadata(), expectedVersion: expected))
        case "end":
            operation = .end(try sessionID(), try status() ?? .completed)
        case "get":
            operation = .get(try sessionID())
        case "delete":
            operation = .delete(try sessionID())
        case "register_agent":
            if case .array(let values)? = object["agent_ids"] {
                let ids = values.compactMap(\.stringValue)
                guard ids.count == values.count, !ids.isEmpty else { throw refuse("invalid_input", "agent_ids must be a non-empty array of strings") }
                operation = .registerAgent(ids)
            } else {
                operation = .registerAgent([try required("agent_id")])
            }
        default:
            throw refuse("invalid_request", "unknown op (expected start, update, end, get, delete or register_agent)")
        }
    }
}
