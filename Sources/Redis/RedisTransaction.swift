/// What one attempt of a transaction decided after reading the watched state.
public enum RedisTransactionStep<Result> {
    /// Run `commands` inside MULTI/EXEC; `finish` turns EXEC's replies (one per
    /// command, in order) into the result.
    case commit([RedisCommand], finish: ([RedisReply]) throws -> Result)
    /// Write nothing (UNWATCH) and return this result.
    case done(Result)
}

/// The result of a transaction with the number of attempts it took.
public struct RedisTransactionOutcome<Result> {
    /// What the committed attempt returned.
    public var value: Result
    /// Attempts made, the committed one included; `attempts - 1` were aborted.
    public var attempts: Int
}

extension RedisConnection {
    /// Runs an optimistic WATCH/MULTI/EXEC transaction on this one connection. Blocks.
    ///
    /// Each attempt costs two round trips when it commits: `WATCH keys` pipelined
    /// with `reads`, then `MULTI`, the commands and `EXEC` pipelined. An attempt
    /// whose `EXEC` is aborted (a watched key changed) is tried again after a
    /// jittered pause, up to `retry.maxAttempts`. Any early exit (`decide` throws,
    /// returns ``RedisTransactionStep/done(_:)``, or an error reply) UNWATCHes or
    /// DISCARDs so the connection is clean for its next user.
    ///
    /// - Parameters:
    ///   - keys: The keys to WATCH.
    ///   - reads: Commands whose replies `decide` sees, read while the keys are watched.
    ///   - retry: The retry bound and pauses.
    ///   - decide: Given the replies to `reads`, what to write. Called once per attempt.
    /// - Returns: The committed attempt's result and the attempt count.
    /// - Throws: ``RedisError`` of kind `transactionConflict` after the last aborted
    ///   attempt; `transactionFailed` when a queued command or one inside EXEC failed;
    ///   `outcomeUnknown` when the connection broke after EXEC may have been sent;
    ///   socket errors before that (marked ``RedisError/isSafeToRetry``); and whatever
    ///   `decide` or `finish` throw.
    public func transaction<Result>(
        watching keys: [[UInt8]],
        reading reads: [RedisCommand],
        retry: RedisRetryPolicy = .default,
        decide: ([RedisReply]) throws -> RedisTransactionStep<Result>
    ) throws -> RedisTransactionOutcome<Result> {
        var attempt = 0
        while true {
            attempt += 1
            let watched = try pipeline([RedisCommand(rawArguments: [Array("WATCH".utf8)] + keys)] + reads, readOnly: true)
            if case .error(let serverError) = watched[0] { throw RedisError(serverError) }
            let step: RedisTransactionStep<Result>
            do {
                step = try decide(Array(watched.dropFirst()))
            } catch {
                unwatch()
                throw error
            }
            switch step {
            case .done(let result):
                unwatch()
                return RedisTransactionOutcome(value: result, attempts: attempt)
            case .commit(let commands, let finish):
                if let execReplies = try execute(commands) {
                    return RedisTransactionOutcome(value: try finish(execReplies), attempts: attempt)
                }
                if attempt >= retry.maxAttempts {
                    throw RedisError(.transactionConflict, "transaction aborted by concurrent writes \(attempt) times")
                }
                retry.pause(afterAbortedAttempts: attempt)
            }
        }
    }

    /// Sends MULTI, the commands and EXEC in one write. Returns `nil` when EXEC was aborted.
    private func execute(_ commands: [RedisCommand]) throws(RedisError) -> [RedisReply]? {
        let replies: [RedisReply]
        do {
            replies = try pipeline([RedisCommand("MULTI")] + commands + [RedisCommand("EXEC")])
        } catch {
            if error.isConnectionError {
                throw RedisError(.outcomeUnknown, "connection failed while the transaction was being committed (\(error.message)); it may or may not have been applied")
            }
            throw error
        }
        if case .error(let serverError) = replies[0] {
            // MULTI itself refused (e.g. NOPERM): nothing was queued. Clear the WATCH.
            unwatch()
            throw RedisError(serverError)
        }
        for (index, reply) in replies.dropFirst().dropLast().enumerated() {
            if case .error(let serverError) = reply {
                // Queueing failed: the server discards the whole transaction at EXEC.
                let underlying = RedisError(serverError)
                throw RedisError(
                    underlying.kind == .serverError ? .transactionFailed : underlying.kind,
                    "command \(index + 1) (\(commands[index].name)) was refused: \(serverError)",
                    serverError: serverError
                )
            }
        }
        switch replies[replies.count - 1] {
        case .null:
            return nil
        case .array(let results):
            for (index, result) in results.enumerated() {
                if case .error(let serverError) = result {
                    throw RedisError(
                        .transactionFailed,
                        "command \(index + 1) (\(commands[index].name)) failed inside EXEC: \(serverError)",
                        serverError: serverError
                    )
                }
            }
            return results
        case .error(let execError):
            // `EXECABORT … because of: NOPERM …` is classified by its cause.
            var serverError = execError
            if execError.code == "EXECABORT", let marker = execError.message.firstRange(of: "because of: ") {
                var cause = execError.message[marker.upperBound...]
                if cause.hasPrefix("-") { cause = cause.dropFirst() }
                serverError = RedisServerError(reply: String(cause))
            }
            let underlying = RedisError(serverError)
            throw RedisError(underlying.kind == .serverError ? .transactionFailed : underlying.kind, "EXEC failed: \(serverError)", serverError: serverError)
        default:
            throw RedisError(.unexpectedReply, "EXEC returned neither an array nor null")
        }
    }

    /// Best-effort UNWATCH; a socket failure here leaves the connection broken, which the pool sees.
    private func unwatch() {
        _ = try? send(RedisCommand("UNWATCH"))
    }
}
