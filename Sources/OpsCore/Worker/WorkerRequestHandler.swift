/// Applies worker requests through a ``SessionLifecycle`` and writes reply lines.
///
/// ``reply(to:)`` **blocks the calling thread** on Redis. Replies are one JSON
/// object per line: `{"id":…,"ok":true,"session":{…}}` or
/// `{"id":…,"ok":false,"error":{"code":…,"message":…}}`.
public struct WorkerRequestHandler: Sendable {
    /// The lifecycle requests go through.
    public let lifecycle: SessionLifecycle

    /// Creates a handler.
    public init(lifecycle: SessionLifecycle) {
        self.lifecycle = lifecycle
    }

    /// The outcome of one request line.
    public struct Outcome: Sendable {
        /// The reply line, without the trailing newline.
        public var line: [UInt8]
        /// The error code when the request failed.
        public var errorCode: String?
    }

    /// Handles one request line and returns its reply line.
    /// Records `opscore_requests_total` and `opscore_request_duration_seconds`.
    public func reply(to line: some Collection<UInt8>) -> Outcome {
        let started = ContinuousClock.now
        let (operation, outcome) = handle(line)
        OpsCoreMetrics.request(operation: operation, outcome: outcome.errorCode ?? "ok", duration: .now - started)
        return outcome
    }

    private func handle(_ line: some Collection<UInt8>) -> (operation: String, outcome: Outcome) {
        let request: WorkerRequest
        do {
            request = try WorkerRequest(line: line)
        } catch {
            return ("invalid", Self.failure(id: error.id, code: error.code, message: error.message))
        }
        return (request.operation.name, respond(to: request))
    }

    private func respond(to request: WorkerRequest) -> Outcome {
        do {
            switch request.operation {
            case .start(let agentID, let workflowID, let metadata, let sessionID):
                return Self.success(id: request.id, session: try lifecycle.startSession(agentID: agentID, workflowID: workflowID, metadata: metadata, sessionID: sessionID))
            case .update(let id, let update):
                return Self.success(id: request.id, session: try lifecycle.updateSession(id, update))
            case .end(let id, let status):
                return Self.success(id: request.id, session: try lifecycle.endSession(id, status: status))
            case .get(let id):
                return Self.success(id: request.id, session: try lifecycle.getSession(id))
            case .delete(let id):
                try lifecycle.deleteSession(id)
                return Self.success(id: request.id, session: nil)
            case .registerAgent(let ids):
                try lifecycle.agents.register(ids)
                return Self.success(id: request.id, session: nil)
            }
        } catch {
            return Self.failure(id: request.id, code: error.code, message: error.description)
        }
    }

    private static func success(id: JSONValue, session: Session?) -> Outcome {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(512)
        buffer.append(contentsOf: "{\"id\":".utf8)
        id.write(to: &buffer)
        buffer.append(contentsOf: ",\"ok\":true".utf8)
        if let session {
            buffer.append(contentsOf: ",\"session\":".utf8)
            session.writeJSON(to: &buffer)
        }
        buffer.append(UInt8(ascii: "}"))
        return Outcome(line: buffer, errorCode: nil)
    }

    private static func failure(id: JSONValue, code: String, message: String) -> Outcome {
        var buffer: [UInt8] = []
        buffer.append(contentsOf: "{\"id\":".utf8)
        id.write(to: &buffer)
        buffer.append(contentsOf: ",\"ok\":false,\"error\":{\"code\":".utf8)
        JSONValue.writeString(code, to: &buffer)
        buffer.append(contentsOf: ",\"message\":".utf8)
        JSONValue.writeString(message, to: &buffer)
        buffer.append(contentsOf: "}}".utf8)
        return Outcome(line: buffer, errorCode: code)
    }
}
