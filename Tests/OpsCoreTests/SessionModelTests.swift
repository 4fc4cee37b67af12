import OpsCore
import Testing

/// Statuses, the event JSON and the session JSON. No server needed.
@Suite struct SessionModelTests {
    // MARK: SessionStatus

    @Test func statusesHaveTheDesignRawValues() {
        #expect(SessionStatus.allCases.map(\.rawValue) == ["active", "paused", "completed", "failed", "cancelled", "expired"])
        #expect(SessionStatus(rawValue: "Active") == nil)
        #expect(SessionStatus(rawValue: "ended") == nil)
    }

    @Test func onlyEndedAndExpiredAreFinalAndOnlyEndStatusesEnd() {
        #expect(SessionStatus.allCases.filter(\.isFinal) == [.completed, .failed, .cancelled, .expired])
        #expect(SessionStatus.allCases.filter(\.isEnding) == [.completed, .failed, .cancelled])
    }

    @Test func liveStatusesMayMoveAnywhereAndFrozenOnesNowhere() {
        // active ⇄ paused, active/paused → completed, failed, cancelled, expired;
        // staying put is a metadata-only change. Ended and expired are frozen.
        for from in SessionStatus.allCases {
            for to in SessionStatus.allCases {
                let allowed = from == .active || from == .paused
                #expect(from.canTransition(to: to) == allowed, "\(from) → \(to)")
            }
        }
    }

    // MARK: SessionEvent

    static let exampleID = SessionID("6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a")!

    static let example = SessionEvent(
        kind: .updated, sessionID: exampleID, agentID: "agent-7", workflowID: "wf-9", status: .paused,
        previousStatus: .active, version: 3, changed: ["status", "metadata"],
        at: Timestamp(millisecondsSince1970: 1_795_608_000_123), origin: "host-a")

    @Test func eventJSONHasTheDocumentedFieldOrder() {
        let expected = #"{"type":"session.updated","session_id":"6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a","agent_id":"agent-7","#
            + #""workflow_id":"wf-9","status":"paused","previous_status":"active","version":3,"#
            + #""changed":["status","metadata"],"at":"2026-11-25T12:00:00.123Z","origin":"host-a"}"#
        #expect(String(decoding: Self.example.jsonBytes, as: UTF8.self) == expected)
    }

    @Test func startedEventHasANullPreviousStatus() {
        var started = Self.example
        started.kind = .started
        started.status = .active
        started.previousStatus = nil
        started.version = 1
        started.changed = []
        let text = String(decoding: started.jsonBytes, as: UTF8.self)
        #expect(text.contains(#""type":"session.started""#))
        #expect(text.contains(#""previous_status":null,"version":1,"changed":[],"#))
        #expect(SessionEvent(json: started.jsonBytes) == started)
    }

    @Test func everyKindRoundTripsThroughJSON() {
        for kind in SessionEvent.Kind.allCases {
            for previous in [nil] + SessionStatus.allCases.map(Optional.some) {
                var event = Self.example
                event.kind = kind
                event.previousStatus = previous
                #expect(SessionEvent(json: event.jsonBytes) == event, "\(kind) \(String(describing: previous))")
            }
        }
        #expect(SessionEvent.Kind.allCases.map(\.rawValue)
            == ["session.started", "session.updated", "session.ended", "session.expired", "session.deleted"])
    }

    @Test func textThatNeedsEscapingRoundTrips() {
        var event = Self.example
        event.agentID = "agent \"quoted\" \\ ü 🚀"
        event.workflowID = "wf/ä"
        event.origin = "host\u{1}"
        let json = event.jsonBytes
        #expect(SessionEvent(json: json) == event)
        #expect(!json.contains(0x01))  // control characters are escaped
    }

    @Test(arguments: [
        "",
        "[]",
        "null",
        #"{"type":"session.updated"}"#,
        #"{"type":"session.renamed","session_id":"6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a","agent_id":"a","workflow_id":"w","status":"paused","previous_status":"active","version":3,"changed":[],"at":"2026-11-25T12:00:00.123Z","origin":"h"}"#,
        #"{"type":"session.updated","session_id":"nope","agent_id":"a","workflow_id":"w","status":"paused","previous_status":"active","version":3,"changed":[],"at":"2026-11-25T12:00:00.123Z","origin":"h"}"#,
        #"{"type":"session.updated","session_id":"6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a","agent_id":"a","workflow_id":"w","status":"sleeping","previous_status":"active","version":3,"changed":[],"at":"2026-11-25T12:00:00.123Z","origin":"h"}"#,
        #"{"type":"session.updated","session_id":"6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a","agent_id":"a","workflow_id":"w","status":"paused","previous_status":"active","version":"3","changed":[],"at":"2026-11-25T12:00:00.123Z","origin":"h"}"#,
        #"{"type":"session.updated","session_id":"6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a","agent_id":"a","workflow_id":"w","status":"paused","previous_status":"active","version":3,"changed":[],"at":"2026-11-25T12:00:00Z","origin":"h"}"#,
        #"{"type":"session.updated","session_id":"6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a","agent_id":"a","workflow_id":"w","status":"paused","previous_status":"active","version":3,"changed":[],"at":"2026-11-25T12:00:00.123Z"}"#,
    ])
    func textThatIsNotAnEventIsRejected(text: String) {
        #expect(SessionEvent(json: Array(text.utf8)) == nil)
    }

    // MARK: Session JSON

    @Test func sessionJSONUsesTheHashFieldNamesWithNestedMetadataAndNumericVersion() {
        let session = Session(
            id: Self.exampleID, agentID: "agent-7", workflowID: "wf-9", status: .active,
            startTime: Timestamp(millisecondsSince1970: 1_709_210_096_789),
            lastUpdatedTime: Timestamp(millisecondsSince1970: 1_795_608_000_123),
            metadata: ["b": [1, 2], "a": ["x": .null]], version: 12)
        var buffer: [UInt8] = []
        session.writeJSON(to: &buffer)
        let expected = #"{"session_id":"6f1c2b1e-9d7a-4c3e-8b2a-0f5e4d3c2b1a","agent_id":"agent-7","workflow_id":"wf-9","#
            + #""status":"active","start_time":"2024-02-29T12:34:56.789Z","last_updated_time":"2026-11-25T12:00:00.123Z","#
            + #""metadata":{"a":{"x":null},"b":[1,2]},"version":12}"#
        #expect(String(decoding: buffer, as: UTF8.self) == expected)
        #expect((try? JSONValue(parsing: buffer)) == session.jsonValue)
    }
}
