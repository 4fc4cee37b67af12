/// What one attempt of a transaction decided after reading the watched state.
public enum RedisTransactionStep<Result> {
    /// Run `commands` inside the open `MULTI` and `EXEC` them; `finish` turns
    /// EXEC's replies (one per command, in order) into the result.
    case commit([RedisCommand], finish: ([RedisReply]) throws -> Result)
    /// Write nothing (`DISCARD`) and return this result.
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
    /// Each attempt costs two round trips: `WATCH keys`, the `reads` and `MULTI`
    /// pipelined; then, once `MULTI` is known to be accepted, the commands and
    /// `EXEC` pipelined. No write is ever sent unless `MULTI` was accepted first,
    /// so a refused `MULTI` (an ACL without `+multi`) can never let writes run
    /// outside the transaction. A decision to write nothing, or a `decide` that
    /// throws, sends `DISCARD`. An attempt whose `EXEC` is aborted (a watched key
    /// changed) is tried again after a jittered pause, up to `retry.maxAttempts`.
    /// A connection whose transaction state is uncertain (a refused `MULTI`, a
    /// `DISCARD` that did not answer `OK`) is abandoned, never reused.
    ///
    /// - Parameters:
    ///   - keys: The keys to WATCH; none for a plain `MULTI`/`EXEC` (which then never aborts).
    ///   - reads: Commands whose replies `decide` sees, read while the keys are watched.
    ///   - retry: The retry bound and pauses.
    ///   - decide: Given the replies to `reads`, what to write. Called once per attempt.
    /// - Returns: The committed attempt's result and the attempt count.
    /// - Throws: ``RedisError`` of kind `transactionConflict` after the last aborted
    ///   attempt; `permissionDenied` or `serverError` when `WATCH` or `MULTI` was
    ///   refused; `transactionFailed` (or `permissionDenied`) when a command was
    ///   refused at queue time, so nothing was applied; `partiallyApplied` when a
    ///   command failed inside `EXEC` while the others were applied; `outcomeUnknown`
    ///   when the connection broke after `EXEC` may have been sent; socket errors
    ///   before that (marked ``RedisError/isSafeToRetry``); and whatever `decide`
    ///   or `finish` throw.
    public func transaction<Result>(
        watching keys: [[UInt8]],
        reading reads: [RedisCommand],
        retry: RedisRetryPolicy = .default,
        decide: ([RedisReply]) throws -> RedisTransactionStep<Result>
    ) throws -> RedisTransactionOutcome<Result> {
        var attempt = 0
        while true {
            attempt += 1
            let watched = try openTransaction(watching: keys, reading: reads)
            let step: RedisTransactionStep<Result>
            do {
                step = try decide(watched)
            } catch {
                discard()
                throw error
            }
            switch step {
            case .done(let result):
                discard()
                return RedisTransactionOutcome(value: result, attempts: attempt)
            case .commit(let commands, let finish):
                if let execReplies = try commit(commands) {
                    return RedisTransactionOutcome(value: try finish(execReplies), attempts: attempt)
                }
                if attempt >= retry.maxAttempts {
                    throw RedisError(.transactionConflict, "transaction aborted by concurrent writes \(attempt) times")
                }
                retry.pause(afterAbortedAttempts: attempt)
            }
        }
    }

    /// First round trip: `WATCH`, the reads and `MULTI`. Returns the reads' replies
    /// with `MULTI` accepted, so the connection is inside the transaction.
    private func openTransaction(watching keys: [[UInt8]], reading reads: [RedisCommand]) throws(RedisError) -> [RedisReply] {
        var commands: [RedisCommand] = []
        commands.reserveCapacity(reads.count + 2)
        if let first = keys.first {
            var watch = RedisCommand("WATCH", first)
            for key in keys.dropFirst() { watch.append(key) }
            commands.append(watch)
        }
        let watched = commands.count
        commands += reads
        commands.append(Self.multi)
        // Nothing here changes data: a socket failure is safe to retry on a new connection.
        let replies = try pipeline(commands, readOnly: true)
        switch replies[replies.count - 1] {
        case .status("OK"):
            break
        case .error(let serverError):
            // MULTI refused: nothing will be queued, but the WATCH may still be set.
            abandon(RedisError(.transactionFailed, "connection abandoned after MULTI was refused"))
            let underlying = RedisError(serverError)
            throw RedisError(underlying.kind, "MULTI was refused: \(serverError)", serverError: serverError)
        default:
            abandon(RedisError(.unexpectedReply, "connection abandoned after an unexpected reply to MULTI"))
            throw RedisError(.unexpectedReply, "MULTI returned neither OK nor an error")
        }
        if watched > 0, case .error(let serverError) = replies[0] {
            discard()
            throw RedisError(serverError)
        }
        return Array(replies[watched..<(replies.count - 1)])
    }

    private static let multi = RedisCommand("MULTI")
    private static let exec = RedisCommand("EXEC")

    /// Second round trip: the commands and `EXEC`. Returns `nil` when EXEC was aborted.
    private func commit(_ commands: [RedisCommand]) throws(RedisError) -> [RedisReply]? {
        let replies: [RedisReply]
        do {
            replies = try pipeline(commands + [Self.exec], readOnly: false)
        } catch {
            if error.isConnectionError {
                throw RedisError(.outcomeUnknown, "connection failed while the transaction was being committed (\(error.message)); it may or may not have been applied")
            }
            throw error
        }
        for (index, reply) in replies.dropLast().enumerated() {
            if case .error(let serverError) = reply {
                // Queueing failed: the server discards the whole transaction at EXEC.
                let underlying = RedisError(serverError)
                throw RedisError(
                    underlying.kind == .serverError ? .transactionFailed : underlying.kind,
                    "command \(index + 1) (\(commands[index].name)) was refused, nothing was applied: \(serverError)",
                    serverError: serverError,
                    isSafeToRetry: underlying.isSafeToRetry
                )
            }
        }
        switch replies[replies.count - 1] {
        case .null:
            return nil
        case .array(let results) where results.count == commands.count:
            if let index = results.firstIndex(where: { if case .error = $0 { true } else { false } }),
               case .error(let serverError) = results[index] {
                throw Self.partiallyApplied(commands, failedAt: index, serverError)
            }
            return results
        case .error(let execError):
            throw Self.execRefused(execError)
        default:
            abandon(RedisError(.unexpectedReply, "connection abandoned after an unexpected reply to EXEC"))
            throw RedisError(.unexpectedReply, "EXEC returned neither an array of \(commands.count) replies nor null; the transaction may have been applied")
        }
    }

    /// `DISCARD`s the open transaction (which also clears the WATCH), or abandons
    /// the connection when that cannot be confirmed.
    private func discard() {
        do {
            let reply = try pipeline([RedisCommand("DISCARD")], readOnly: true)[0]
            if reply != .status("OK") {
                abandon(RedisError(.unexpectedReply, "connection abandoned after DISCARD was not confirmed"))
            }
        } catch {
            abandon(error)
        }
    }

    private static func partiallyApplied(_ commands: [RedisCommand], failedAt index: Int, _ serverError: RedisServerError) -> RedisError {
        let command = commands[index]
        let key = command.firstArgumentText ?? ""
        var error = RedisError(
            .partiallyApplied,
            "command \(index + 1) of \(commands.count) (\(command.name) on key \(RedisError.quoted(key))) failed inside EXEC: \(serverError); the other commands were applied",
            serverError: serverError
        )
        error.failedCommand = command.name
        error.failedKey = key
        return error
    }

    /// `EXECABORT … because of: NOPERM …` is classified by its cause; nothing was applied.
    private static func execRefused(_ execError: RedisServerError) -> RedisError {
        var serverError = execError
        if execError.code == "EXECABORT", let marker = execError.message.firstRange(of: "because of: ") {
            var cause = execError.message[marker.upperBound...]
            if cause.hasPrefix("-") { cause = cause.dropFirst() }
            serverError = RedisServerError(reply: String(cause))
        }
        let underlying = RedisError(serverError)
        return RedisError(underlying.kind == .serverError ? .transactionFailed : underlying.kind, "EXEC failed, nothing was applied: \(serverError)", serverError: serverError)
    }
}
