import OpsCore
import Redis
import RedisTestSupport
import Testing

/// start / update / get / end / delete / list against a real redis-server, with
/// the hash and indexes read back as redis-cli would show them.
@Suite struct SessionLifecycleTests {
    // MARK: start

    @Test func startWritesTheDesignedHashAndBothIndexes() async throws {
        let fixture = try await OpsFixture.make("start")
        let metadata: [String: JSONValue] = ["n": 1, "k": "v", "nested": ["a": true, "list": [1, "two", .null]]]
        let (session, hash, agentIndex, byUpdate, redisNow, read) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf-1", metadata: metadata)
            return (
                session,
                try raw.hgetall(fixture.sessionKey(session.id)),
                try fixture.agentIndexEntries(raw),
                try fixture.byUpdateEntries(raw),
                try raw.timeMilliseconds(),
                try lifecycle.getSession(session.id)
            )
        }

        #expect(session.id.text == session.id.text.lowercased())
        #expect(session.agentID == fixture.agent)
        #expect(session.workflowID == "wf-1")
        #expect(session.status == .active)
        #expect(session.version == 1)
        #expect(session.startTime == session.lastUpdatedTime)
        #expect(session.metadata == metadata)
        // Redis's own clock, not the host's: within a few seconds of TIME.
        #expect(abs(redisNow - session.startTime.millisecondsSince1970) < 5_000)

        #expect(Set(hash.keys) == designHashFields)
        #expect(hash["session_id"] == session.id.text)
        #expect(SessionID(hash["session_id"] ?? "") == session.id)
        #expect(hash["agent_id"] == fixture.agent)
        #expect(hash["workflow_id"] == "wf-1")
        #expect(hash["status"] == "active")
        #expect(hash["version"] == "1")
        #expect(hash["start_time"] == session.startTime.description)
        #expect(hash["last_updated_time"] == hash["start_time"])
        #expect(isISO8601Milliseconds(hash["start_time"] ?? ""))
        // Plain JSON text; the writer sorts keys.
        #expect(hash["metadata"] == #"{"k":"v","n":1,"nested":{"a":true,"list":[1,"two",null]}}"#)

        let startMilliseconds = session.startTime.millisecondsSince1970
        #expect(agentIndex == [ScoredMember(member: session.id.text, score: startMilliseconds)])
        #expect(byUpdate == [ScoredMember(member: session.id.text, score: startMilliseconds)])
        #expect(read == session)
    }

    @Test func startWithAnExplicitIDUsesItLowercased() async throws {
        let fixture = try await OpsFixture.make("start-id")
        let id = try #require(SessionID("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D"))
        let (session, keys) = try await fixture.run { lifecycle, raw in
            (try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", sessionID: id),
             try raw.keys(fixture.sessionKeyPattern))
        }
        #expect(session.id.text == "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
        #expect(session.metadata.isEmpty)
        #expect(keys == ["\(fixture.namespace):{0}:session:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"])
    }

    @Test func startWithAnExistingSessionIDIsRefusedAndChangesNothing() async throws {
        let fixture = try await OpsFixture.make("exists")
        let (first, before, result, after) = try await fixture.run { lifecycle, raw in
            let first = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: ["original": true])
            let before = try raw.snapshot(first.id, agent: fixture.agent, keys: fixture.keys)
            let result = attempt { () throws(OpsCoreError) in
                try lifecycle.startSession(agentID: fixture.agent, workflowID: "other", metadata: ["new": true], sessionID: first.id)
            }
            return (first, before, result, try raw.snapshot(first.id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(result.failure == .sessionExists(first.id))
        #expect(result.failure?.code == "session_exists")
        #expect(after == before)
        #expect(after.hash["version"] == "1")
        #expect(after.hash["workflow_id"] == "wf")
    }

    @Test func startForAnUnregisteredAgentWritesAndPublishesNothing() async throws {
        let fixture = try await OpsFixture.make("ghost")
        let events = try await fixture.subscribe()
        defer { events.stop() }
        let id = SessionID.random()
        let (result, keys) = try await fixture.run { lifecycle, raw in
            (attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: "ghost", workflowID: "wf", sessionID: id) },
             try raw.keys("\(fixture.namespace):*"))
        }
        #expect(result.failure == .agentNotRegistered(agentID: "ghost"))
        #expect(result.failure?.code == "agent_not_registered")
        // Only the agents set exists: no hash, no agent index, no by-update entry.
        #expect(keys == fixture.keysWithoutSessions)
        #expect(try await events.payloadsBeforeSentinel() == [])
    }

    // MARK: identifiers and metadata limits

    /// An id DESIGN.md refuses, shown escaped in test output.
    struct BadID: Sendable, CustomTestStringConvertible {
        var value: String
        var testDescription: String { value.count > 40 ? "\(value.utf8.count) bytes" : value.debugDescription }
    }

    @Test(arguments: [
        BadID(value: ""),
        BadID(value: String(repeating: "a", count: 257)),
        BadID(value: String(repeating: "é", count: 128) + "a"),  // 257 bytes of UTF-8
        BadID(value: "a\u{0}b"),
        BadID(value: "a\nb"),
        BadID(value: "tab\there"),
        BadID(value: "del\u{7F}"),
        BadID(value: "c1\u{85}"),
        BadID(value: "\u{1B}[31mred"),
    ])
    func startRefusesABadAgentIDBeforeWritingAnything(bad: BadID) async throws {
        let fixture = try await OpsFixture.make("bad-agent")
        let agentID = bad.value
        let (result, keys) = try await fixture.run { lifecycle, raw in
            (attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: agentID, workflowID: "wf") },
             try raw.keys("\(fixture.namespace):*"))
        }
        #expect(result.failure?.invalidField == "agent_id")
        #expect(result.failure?.code == "invalid_input")
        #expect(keys == fixture.keysWithoutSessions)
    }

    @Test func startRefusesABadWorkflowIDBeforeWritingAnything() async throws {
        let fixture = try await OpsFixture.make("bad-wf")
        let bad = ["", String(repeating: "w", count: 257), "line\rbreak", "nul\u{0}"]
        let (fields, keys) = try await fixture.run { lifecycle, raw in
            (bad.map { workflowID in
                attempt { () throws(OpsCoreError) in try lifecycle.startSession(agentID: fixture.agent, workflowID: workflowID) }
                    .failure?.invalidField
            }, try raw.keys("\(fixture.namespace):*"))
        }
        #expect(fields == Array(repeating: "workflow_id", count: bad.count))
        #expect(keys == fixture.keysWithoutSessions)
    }

    @Test func idsOfExactly256BytesAreAccepted() async throws {
        let agent = String(repeating: "é", count: 128)  // 256 bytes, 128 characters
        let fixture = try await OpsFixture.make("id-256", agent: agent)
        let workflow = String(repeating: "w", count: 256)
        let (session, hash) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: agent, workflowID: workflow)
            return (session, try raw.hgetall(fixture.sessionKey(session.id)))
        }
        #expect(hash["agent_id"] == agent)
        #expect(hash["workflow_id"] == workflow)
        #expect(session.agentID.utf8.count == 256)
    }

    @Test func metadataOfExactly64KiBIsAcceptedAndOneByteMoreIsRefusedOnStart() async throws {
        let fixture = try await OpsFixture.make("meta-start")
        // {"big":"xxx…"} is 10 bytes of syntax around the string.
        let fits: [String: JSONValue] = ["big": .string(String(repeating: "x", count: 65_536 - 10))]
        let tooBig: [String: JSONValue] = ["big": .string(String(repeating: "x", count: 65_536 - 9))]
        let (accepted, refused, sessionKeys) = try await fixture.run { lifecycle, raw in
            let accepted = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: fits)
            let refused = attempt { () throws(OpsCoreError) in
                try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: tooBig)
            }
            return (try raw.hgetall(fixture.sessionKey(accepted.id)), refused, try raw.keys(fixture.sessionKeyPattern))
        }
        #expect(accepted["metadata"]?.utf8.count == 65_536)
        #expect(refused.failure?.invalidField == "metadata")
        #expect(sessionKeys.count == 1)
    }

    @Test func oversizedMetadataOnUpdateIsRefusedAndChangesNothing() async throws {
        let fixture = try await OpsFixture.make("meta-update")
        let half = String(repeating: "y", count: 40_000)
        let (before, patchTooBig, mergeTooBig, after) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: ["a": .string(half)])
            let before = try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys)
            // The patch alone is too big.
            let patchTooBig = attempt { () throws(OpsCoreError) in
                try lifecycle.updateSession(session.id, SessionUpdate(
                    status: .paused, metadataPatch: ["b": .string(String(repeating: "z", count: 70_000))]))
            }
            // The patch fits, but the merged metadata would not.
            let mergeTooBig = attempt { () throws(OpsCoreError) in
                try lifecycle.updateSession(session.id, SessionUpdate(status: .paused, metadataPatch: ["b": .string(half)]))
            }
            return (before, patchTooBig, mergeTooBig, try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(patchTooBig.failure?.invalidField == "metadata")
        #expect(mergeTooBig.failure?.invalidField == "metadata")
        #expect(after == before)
        #expect(after.hash["status"] == "active")
        #expect(after.hash["version"] == "1")
    }

    // MARK: update

    @Test func updateMergesMetadataPatchRecursivelyAndRemovesNullKeys() async throws {
        let fixture = try await OpsFixture.make("merge")
        let initial: [String: JSONValue] = ["a": 1, "gone": "z", "obj": ["x": 1, "y": 2, "deep": ["keep": true, "drop": 0]]]
        let patch: [String: JSONValue] = ["b": 2, "gone": .null, "obj": ["y": .null, "z": 3, "deep": ["drop": .null, "add": [1, 2]]]]
        let (started, updated, hash, byUpdate) = try await fixture.run { lifecycle, raw in
            let started = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: initial)
            let updated = try lifecycle.updateSession(started.id, SessionUpdate(metadataPatch: patch))
            return (started, updated, try raw.hgetall(fixture.sessionKey(started.id)),
                    try raw.zscore(fixture.byUpdateKey(for: started.id), started.id.text))
        }
        let expected: [String: JSONValue] = ["a": 1, "b": 2, "obj": ["x": 1, "z": 3, "deep": ["keep": true, "add": [1, 2]]]]
        #expect(updated.metadata == expected)
        #expect(updated.status == .active)
        #expect(updated.version == 2)
        #expect(updated.startTime == started.startTime)
        #expect(updated.lastUpdatedTime >= started.lastUpdatedTime)
        #expect(hash["metadata"] == #"{"a":1,"b":2,"obj":{"deep":{"add":[1,2],"keep":true},"x":1,"z":3}}"#)
        #expect(hash["version"] == "2")
        #expect(hash["status"] == "active")
        #expect(hash["start_time"] == started.startTime.description)
        #expect(hash["last_updated_time"] == updated.lastUpdatedTime.description)
        #expect(byUpdate == updated.lastUpdatedTime.millisecondsSince1970)
    }

    @Test func updateMovesBetweenActiveAndPausedBumpingVersionAndTime() async throws {
        let fixture = try await OpsFixture.make("pause")
        let (steps, hashes, byUpdate) = try await fixture.run { lifecycle, raw in
            var steps: [Session] = []
            var hashes: [[String: String]] = []
            let started = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: ["step": 0])
            steps.append(started)
            let key = fixture.sessionKey(started.id)
            hashes.append(try raw.hgetall(key))
            let updates = [
                SessionUpdate(status: .paused),
                SessionUpdate(status: .paused, metadataPatch: ["step": 2]),  // paused → paused with metadata
                SessionUpdate(status: .active, expectedVersion: 3),
                SessionUpdate(metadataPatch: ["step": 4], expectedVersion: 4),
            ]
            for update in updates {
                sleepOnThread(milliseconds: 2)
                steps.append(try lifecycle.updateSession(started.id, update))
                hashes.append(try raw.hgetall(key))
            }
            return (steps, hashes, try raw.zscore(fixture.byUpdateKey(for: started.id), started.id.text))
        }
        #expect(steps.map(\.status) == [.active, .paused, .paused, .active, .active])
        #expect(steps.map(\.version) == [1, 2, 3, 4, 5])
        #expect(steps.map { $0.metadata["step"] } == [0, 0, 2, 2, 4])
        #expect(hashes.map { $0["status"] } == ["active", "paused", "paused", "active", "active"])
        #expect(hashes.map { $0["version"] } == ["1", "2", "3", "4", "5"])
        #expect(Set(hashes.compactMap { $0["start_time"] }).count == 1)
        for (earlier, later) in zip(steps, steps.dropFirst()) {
            #expect(later.lastUpdatedTime >= earlier.lastUpdatedTime)
        }
        #expect(hashes.map { $0["last_updated_time"] } == steps.map { $0.lastUpdatedTime.description })
        #expect(byUpdate == steps.last?.lastUpdatedTime.millisecondsSince1970)
    }

    @Test func updateWithAStaleExpectedVersionReportsBothVersionsAndChangesNothing() async throws {
        let fixture = try await OpsFixture.make("mismatch")
        let (before, older, newer, after) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            _ = try lifecycle.updateSession(session.id, SessionUpdate(metadataPatch: ["v": 2]))
            let before = try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys)
            let older = attempt { () throws(OpsCoreError) in
                try lifecycle.updateSession(session.id, SessionUpdate(status: .paused, expectedVersion: 1))
            }
            let newer = attempt { () throws(OpsCoreError) in
                try lifecycle.updateSession(session.id, SessionUpdate(metadataPatch: ["x": 1], expectedVersion: 5))
            }
            return (before, older, newer, try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(older.failure == .versionMismatch(expected: 1, actual: 2))
        #expect(newer.failure == .versionMismatch(expected: 5, actual: 2))
        #expect(older.failure?.code == "version_mismatch")
        #expect(after == before)
    }

    @Test func updateRefusesAnEmptyUpdateAndStatusExpiredBeforeTouchingRedis() async throws {
        let fixture = try await OpsFixture.make("bad-update")
        let (before, empty, expired, expiredWithMetadata, after, roundTrips) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            let before = try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys)
            let tripsBefore = lifecycle.store.pool.roundTrips
            let empty = attempt { () throws(OpsCoreError) in try lifecycle.updateSession(session.id, SessionUpdate()) }
            let expired = attempt { () throws(OpsCoreError) in try lifecycle.updateSession(session.id, SessionUpdate(status: .expired)) }
            let expiredWithMetadata = attempt { () throws(OpsCoreError) in
                try lifecycle.updateSession(session.id, SessionUpdate(status: .expired, metadataPatch: ["a": 1]))
            }
            let trips = lifecycle.store.pool.roundTrips - tripsBefore
            return (before, empty, expired, expiredWithMetadata, try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys), trips)
        }
        #expect(empty.failure?.invalidField == "update")
        #expect(expired.failure?.invalidField == "status")
        #expect(expiredWithMetadata.failure?.invalidField == "status")
        #expect(after == before)
        #expect(roundTrips == 0)
    }

    // MARK: get

    @Test func getReturnsTheStoredSessionAndReportsAMissingOne() async throws {
        let fixture = try await OpsFixture.make("get")
        let missing = SessionID.random()
        let (started, read, notFound, exists) = try await fixture.run { lifecycle, raw in
            let started = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: ["pi": 3.25, "s": "ü"])
            return (started, try lifecycle.getSession(started.id),
                    attempt { () throws(OpsCoreError) in try lifecycle.getSession(missing) },
                    try raw.exists(fixture.sessionKey(missing)))
        }
        #expect(read == started)
        #expect(read.metadata == ["pi": 3.25, "s": "ü"])
        #expect(notFound.failure == .sessionNotFound(missing))
        #expect(notFound.failure?.code == "session_not_found")
        #expect(!exists)
    }

    // MARK: end

    @Test(arguments: [SessionStatus.completed, .failed, .cancelled])
    func endSetsTheEndingStatusAndLeavesTheByUpdateIndex(status: SessionStatus) async throws {
        let fixture = try await OpsFixture.make("end")
        let (started, ended, snapshot) = try await fixture.run { lifecycle, raw in
            let started = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf", metadata: ["m": 1])
            let ended = status == .completed
                ? try lifecycle.endSession(started.id)  // the default
                : try lifecycle.endSession(started.id, status: status)
            return (started, ended, try raw.snapshot(started.id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(ended.status == status)
        #expect(ended.version == 2)
        #expect(ended.metadata == started.metadata)
        #expect(ended.lastUpdatedTime >= started.lastUpdatedTime)
        #expect(snapshot.hash["status"] == status.rawValue)
        #expect(snapshot.hash["version"] == "2")
        #expect(snapshot.hash["metadata"] == #"{"m":1}"#)
        #expect(snapshot.hash["last_updated_time"] == ended.lastUpdatedTime.description)
        // Still listed for its agent, no longer a candidate for the idle sweep.
        #expect(snapshot.agentIndexScore == started.startTime.millisecondsSince1970)
        #expect(snapshot.byUpdateScore == nil)
    }

    @Test func endFromPausedWorks() async throws {
        let fixture = try await OpsFixture.make("end-paused")
        let (ended, hash) = try await fixture.run { lifecycle, raw in
            let started = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            _ = try lifecycle.updateSession(started.id, SessionUpdate(status: .paused))
            let ended = try lifecycle.endSession(started.id, status: .failed)
            return (ended, try raw.hgetall(fixture.sessionKey(started.id)))
        }
        #expect(ended.status == .failed)
        #expect(ended.version == 3)
        #expect(hash["status"] == "failed")
    }

    @Test(arguments: [SessionStatus.active, .paused, .expired])
    func endWithANonEndingStatusIsInvalidInputAndChangesNothing(status: SessionStatus) async throws {
        let fixture = try await OpsFixture.make("end-bad")
        let (before, result, after) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            let before = try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys)
            let result = attempt { () throws(OpsCoreError) in try lifecycle.endSession(session.id, status: status) }
            return (before, result, try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(result.failure?.invalidField == "status")
        #expect(after == before)
    }

    @Test func updateToAnEndingStatusEndsTheSession() async throws {
        let fixture = try await OpsFixture.make("update-end")
        let (ended, snapshot) = try await fixture.run { lifecycle, raw in
            let started = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            let ended = try lifecycle.updateSession(started.id, SessionUpdate(status: .cancelled, metadataPatch: ["why": "user"]))
            return (ended, try raw.snapshot(started.id, agent: fixture.agent, keys: fixture.keys))
        }
        #expect(ended.status == .cancelled)
        #expect(snapshot.hash["status"] == "cancelled")
        #expect(snapshot.hash["metadata"] == #"{"why":"user"}"#)
        #expect(snapshot.byUpdateScore == nil)
    }

    // MARK: delete

    @Test func deleteRemovesTheHashAndBothIndexEntries() async throws {
        let fixture = try await OpsFixture.make("delete")
        let (deleted, snapshot, keptSnapshot, get, again) = try await fixture.run { lifecycle, raw in
            let kept = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            let deleted = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            try lifecycle.deleteSession(deleted.id)
            return (deleted.id,
                    try raw.snapshot(deleted.id, agent: fixture.agent, keys: fixture.keys),
                    try raw.snapshot(kept.id, agent: fixture.agent, keys: fixture.keys),
                    attempt { () throws(OpsCoreError) in try lifecycle.getSession(deleted.id) },
                    attempt { () throws(OpsCoreError) in try lifecycle.deleteSession(deleted.id) })
        }
        #expect(snapshot == SessionSnapshot(type: "none", hash: [:], agentIndexScore: nil, byUpdateScore: nil))
        #expect(keptSnapshot.type == "hash")
        #expect(keptSnapshot.agentIndexScore != nil)
        #expect(keptSnapshot.byUpdateScore != nil)
        #expect(get.failure == .sessionNotFound(deleted))
        #expect(again.failure == .sessionNotFound(deleted))
    }

    @Test func deleteOfAnEndedSessionRemovesItFromTheAgentIndex() async throws {
        let fixture = try await OpsFixture.make("delete-ended")
        let snapshot = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            _ = try lifecycle.endSession(session.id)
            try lifecycle.deleteSession(session.id)
            return try raw.snapshot(session.id, agent: fixture.agent, keys: fixture.keys)
        }
        #expect(snapshot == SessionSnapshot(type: "none", hash: [:], agentIndexScore: nil, byUpdateScore: nil))
    }

    // MARK: list

    @Test func listReturnsNewestFirstAndHonorsTheLimit() async throws {
        let fixture = try await OpsFixture.make("list")
        let (started, all, three, one, other, index) = try await fixture.run { lifecycle, raw in
            var started: [Session] = []
            for number in 0..<5 {
                started.append(try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf-\(number)"))
                sleepOnThread(milliseconds: 2)  // distinct start milliseconds
            }
            try lifecycle.agents.register(["other"])
            _ = try lifecycle.startSession(agentID: "other", workflowID: "wf")
            return (started,
                    try lifecycle.listSessions(agent: fixture.agent).sessions,
                    try lifecycle.listSessions(agent: fixture.agent, limit: 3).sessions,
                    try lifecycle.listSessions(agent: fixture.agent, limit: 1).sessions,
                    try lifecycle.listSessions(agent: "nobody").sessions,
                    try fixture.agentIndexEntries(raw))
        }
        let newestFirst = Array(started.reversed())
        #expect(all == newestFirst)
        #expect(three == Array(newestFirst.prefix(3)))
        #expect(one == [newestFirst[0]])
        #expect(other.isEmpty)
        #expect(index.map(\.member) == started.map(\.id.text))
        #expect(index.map(\.score) == started.map(\.startTime.millisecondsSince1970))
    }

    @Test func listSkipsIndexEntriesWhoseHashIsGoneAndRefusesBadLimits() async throws {
        let fixture = try await OpsFixture.make("list-stale")
        let orphan = SessionID.random()
        let (session, listed, zero, tooMany, badAgent) = try await fixture.run { lifecycle, raw in
            let session = try lifecycle.startSession(agentID: fixture.agent, workflowID: "wf")
            try raw.send("ZADD", fixture.agentIndexKey(for: orphan), session.startTime.millisecondsSince1970 + 10, orphan.text)
            return (session,
                    try lifecycle.listSessions(agent: fixture.agent, limit: 10).sessions,
                    attempt { () throws(OpsCoreError) in try lifecycle.listSessions(agent: fixture.agent, limit: 0).sessions },
                    attempt { () throws(OpsCoreError) in try lifecycle.listSessions(agent: fixture.agent, limit: 10_001).sessions },
                    attempt { () throws(OpsCoreError) in try lifecycle.listSessions(agent: "bad\nagent").sessions })
        }
        #expect(listed == [session])
        #expect(zero.failure?.invalidField == "limit")
        #expect(tooMany.failure?.invalidField == "limit")
        #expect(badAgent.failure?.invalidField == "agent_id")
    }

    // MARK: missing sessions

    @Test func updateAndEndOfAMissingSessionNeverCreateIt() async throws {
        let fixture = try await OpsFixture.make("missing")
        let id = SessionID.random()
        let (update, end, snapshot, keys) = try await fixture.run { lifecycle, raw in
            (attempt { () throws(OpsCoreError) in try lifecycle.updateSession(id, SessionUpdate(status: .paused, metadataPatch: ["a": 1])) },
             attempt { () throws(OpsCoreError) in try lifecycle.endSession(id) },
             try raw.snapshot(id, agent: fixture.agent, keys: fixture.keys),
             try raw.keys("\(fixture.namespace):*"))
        }
        #expect(update.failure == .sessionNotFound(id))
        #expect(end.failure == .sessionNotFound(id))
        #expect(snapshot.type == "none")
        #expect(keys == fixture.keysWithoutSessions)
    }
}
