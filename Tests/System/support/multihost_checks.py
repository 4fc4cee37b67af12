"""Judges a multi-host ``Outcome``: one function per guarantee.

Each returns a ``Verdict``: the run's figures for it (name -> number), the
problems found (empty when the guarantee held) and, for some, figures per
session.
``Analysis`` pairs the requests sent with the replies read once, for all.
"""

import collections
import dataclasses
import json
import re

from .multihost_record import CONTROL_HOST, CUT_HOST, WITNESS_HOST, WORKER_HOSTS

ALLOWED_FAILURE_CODES = {"redis_unavailable", "redis_timeout", "conflict"}
UNREACHABLE_CODES = {"redis_unavailable", "redis_timeout"}
# How a reply says its change may or may not have been applied (an EXEC whose
# reply never arrived), e.g. "Redis connection lost during commit; the change
# may or may not have been applied". An `"outcome":"unknown"` field also counts.
UNKNOWN_OUTCOME = re.compile(
    r"outcome\W+(is\W+)?unknown|unknown\W+outcome|may or may not have (been )?appl", re.I)
# The watcher says so on stderr, e.g. "reconnected to Redis; events published
# while disconnected were missed".
GAP_NOTICE = re.compile(r"\bmissed\b", re.I)
# Seconds after host 2 is reconnected by which it must no longer fail for want of Redis.
RECOVERY_SECONDS = 2.0
MAX_LISTED = 20


@dataclasses.dataclass
class Verdict:
    """A check's figures and problems."""

    figures: dict
    problems: list
    details: dict = dataclasses.field(default_factory=dict)  # label -> figures

    def explain(self):
        """The figures and at most MAX_LISTED problems, for an assertion message."""
        lines = [" ".join(f"{name}={value}" for name, value in self.figures.items())]
        lines += self.problems[:MAX_LISTED]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"… and {len(self.problems) - MAX_LISTED} more")
        return "\n".join(lines)


def parse_objects(lines, where):
    """([(line index, JSON object)], problems) from output lines; blank lines are skipped."""
    objects, problems = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if isinstance(value, dict):
            objects.append((n - 1, value))
        else:
            problems.append(f"{where} line {n} is not a JSON object: {line[:120]!r}")
    return objects, problems


def short(session_id):
    return f"{session_id[:8]}…"


class Analysis:
    """The requests, their replies and the final state, cross-indexed."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.sessions = outcome.sessions
        self.final = outcome.final
        self.requests = {}  # id -> {host, session, key, value}
        self.replies = collections.defaultdict(list)  # id -> [reply]
        self.reply_times = {}  # id -> seconds since start of its (first) reply
        self.reply_problems = []
        for tag, record in outcome.workers.items():
            for request in record.requests:
                (key, value), = request["metadata"].items()
                self.requests[request["id"]] = {"host": tag, "session": request["session_id"],
                                                "key": key, "value": value}
        for tag, record in outcome.workers.items():
            self._read_replies(tag, record)
        self.acked = {rid for rid in self.requests if (self.single(rid) or {}).get("ok") is True}
        self.failed = {rid for rid in self.requests
                       if self.single(rid) is not None and self.single(rid).get("ok") is not True}
        self.unknown_outcome = {rid for rid in self.failed if self._outcome_unknown(self.single(rid))}

    def _read_replies(self, tag, record):
        timed = list(record.replies.lines)
        objects, problems = parse_objects([text for _, text in timed], f"{tag} stdout")
        self.reply_problems += problems
        for index, reply in objects:
            at = timed[index][0]
            rid = reply.get("id")
            if rid not in self.requests:
                self.reply_problems.append(f"{tag}: reply with unknown id {rid!r}: {json.dumps(reply)[:160]}")
                continue
            if self.requests[rid]["host"] != tag:
                self.reply_problems.append(f"{tag}: reply for {rid} which was sent to {self.requests[rid]['host']}")
            self.replies[rid].append(reply)
            self.reply_times.setdefault(rid, at)

    @staticmethod
    def error_of(reply):
        error = reply.get("error")
        return error if isinstance(error, dict) else {}

    def _outcome_unknown(self, reply):
        error = self.error_of(reply)
        return error.get("outcome") == "unknown" or bool(UNKNOWN_OUTCOME.search(str(error.get("message", ""))))

    def single(self, rid):
        """The reply to RID when there is exactly one, else None."""
        replies = self.replies.get(rid) or []
        return replies[0] if len(replies) == 1 else None

    def applied(self, rid):
        """True when RID's change is in the final state: acknowledged, or outcome unknown but present."""
        if rid in self.acked:
            return True
        req = self.requests[rid]
        metadata = (self.final.get(req["session"]) or {}).get("metadata")
        return rid in self.unknown_outcome and isinstance(metadata, dict) and req["key"] in metadata

    def version(self, sid):
        return (self.final.get(sid) or {}).get("version")


def replies(an):
    """a: every request gets exactly one reply, from the worker it was sent to."""
    problems = list(an.reply_problems)
    missing = [rid for rid in an.requests if rid not in an.replies]
    duplicated = [rid for rid, rs in an.replies.items() if len(rs) > 1]
    problems += [f"no reply for {rid}" for rid in missing[:10]]
    if len(missing) > 10:
        problems.append(f"… {len(missing)} requests without a reply in all")
    problems += [f"{len(an.replies[rid])} replies for {rid}" for rid in duplicated[:10]]
    if not an.requests:
        problems.append("no requests were sent")
    return Verdict({"requests": len(an.requests), "replies": sum(len(r) for r in an.replies.values()),
                    "ok": len(an.acked), "failed": len(an.failed), "missing": len(missing),
                    "duplicated": len(duplicated)}, problems)


def acknowledged_writes(an):
    """a: every acknowledged update is in the final state, and its reply shows the session."""
    problems = [f"no final state for session {sid} (HGETALL found no hash)"
                for sid in an.sessions if sid not in an.final]
    present = 0
    for rid in sorted(an.acked):
        req, reply = an.requests[rid], an.single(rid)
        got = reply.get("session")
        if not isinstance(got, dict) or got.get("session_id") != req["session"]:
            problems.append(f"{rid}: ok reply without the updated session: {json.dumps(reply)[:160]}")
        state = an.final.get(req["session"])
        if state is None:
            continue
        metadata = state.get("metadata")
        if not isinstance(metadata, dict):
            problems.append(f"final {req['session']}: metadata is not an object")
        elif metadata.get(req["key"]) != req["value"]:
            problems.append(f"acknowledged {rid} but final {short(req['session'])} metadata "
                            f"has {req['key']}={metadata.get(req['key'])!r}")
        else:
            present += 1
    if not an.acked:
        problems.append("no update was acknowledged")
    return Verdict({"acknowledged": len(an.acked), "present_in_redis": present}, problems)


def failure_codes(an):
    """b: failures only ever say redis_unavailable, redis_timeout or conflict."""
    codes, by_host, problems = collections.Counter(), collections.Counter(), []
    # Every failed reply counts here, duplicates included (check a flags those).
    for rid, rs in an.replies.items():
        for reply in rs:
            if reply.get("ok") is True:
                continue
            error = an.error_of(reply)
            code = error.get("code")
            codes[code] += 1
            by_host[an.requests[rid]["host"]] += 1
            if code not in ALLOWED_FAILURE_CODES:
                problems.append(f"{rid}: error code {code!r}: {str(error.get('message', ''))[:120]}")
    figures = {str(code): n for code, n in sorted(codes.items(), key=lambda kv: str(kv[0]))}
    figures.update({f"failed_{h}": by_host.get(h, 0) for h in WORKER_HOSTS})
    figures["outcome_unknown"] = len(an.unknown_outcome)
    return Verdict(figures, problems)


def gap_free_versions(an):
    """c: version = 1 + acknowledged + applied outcome-unknown; failures change nothing."""
    problems, details = [], {}
    for sid in an.sessions:
        version = an.version(sid)
        if version is None:
            problems.append(f"{sid}: no final version")
            continue
        metadata = an.final[sid].get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        mine = [rid for rid in an.requests if an.requests[rid]["session"] == sid]
        n_acked = sum(1 for rid in mine if rid in an.acked)
        unknown = [rid for rid in mine if rid in an.unknown_outcome]
        unknown_applied = [rid for rid in unknown if an.applied(rid)]
        for rid in mine:  # a definite failure (or no reply) must not have changed the session
            if rid not in an.acked and rid not in unknown and an.requests[rid]["key"] in metadata:
                n = len(an.replies.get(rid) or [])
                what = "failed" if n == 1 else ("unanswered" if n == 0 else f"{n}-times-answered")
                problems.append(f"{short(sid)}: {what} request {rid} was applied anyway")
        reported = collections.Counter(an.single(rid)["session"].get("version") for rid in mine
                                       if rid in an.acked and isinstance(an.single(rid).get("session"), dict))
        clashes = sorted(v for v, n in reported.items() if v is not None and n > 1)
        if clashes:
            problems.append(f"{short(sid)}: several acknowledged updates got version(s) {clashes[:10]}")
        extra = version - 1 - n_acked
        # version = 1 + acked + extra, and extra must be the applied outcome-unknown ones
        details[short(sid)] = {"version": version, "acked": n_acked, "extra": extra,
                               "outcome_unknown": len(unknown), "unknown_applied": len(unknown_applied)}
        if extra != len(unknown_applied):
            problems.append(f"{short(sid)}: version {version} but 1 + {n_acked} acknowledged + "
                            f"{len(unknown_applied)} applied outcome-unknown = {1 + n_acked + len(unknown_applied)}")
    if not an.sessions:
        problems.append("no sessions under test")
    return Verdict({"sessions": len(an.sessions), "outcome_unknown": len(an.unknown_outcome)}, problems, details)


def watched_events(an):
    """(session.updated events of the sessions under test, problems with watch output)."""
    pairs, problems = parse_objects(an.outcome.watch_out, "watch stdout")
    objects = [event for _, event in pairs]
    updated = [e for e in objects if e.get("type") == "session.updated" and e.get("session_id") in an.final]
    return objects, updated, problems


def every_change_seen(an):
    """d: the watcher announced each committed version once, or reported the gap."""
    _, updated, problems = watched_events(an)
    gap_notices = [line for line in an.outcome.watch_err if GAP_NOTICE.search(line)]
    seen = collections.defaultdict(list)
    for event in updated:
        if isinstance(event.get("version"), int):
            seen[event["session_id"]].append(event["version"])
    missing_total = 0
    if not an.outcome.watcher_subscribed:
        problems.append("the watcher printed no event for the probe session within 4 s of starting")
    for sid in an.sessions:
        version = an.version(sid)
        if version is None:
            problems.append(f"{sid}: no final version")
            continue
        expected, got = set(range(2, version + 1)), collections.Counter(seen.get(sid, []))
        dupes = sorted(v for v, n in got.items() if n > 1)
        unexpected = sorted(set(got) - expected)
        missed = sorted(expected - set(got))
        missing_total += len(missed)
        if dupes:
            problems.append(f"{short(sid)}: versions announced more than once: {dupes[:10]}")
        if unexpected:
            problems.append(f"{short(sid)}: events for versions that never committed: {unexpected[:10]}")
        if missed and not gap_notices:
            problems.append(f"{short(sid)}: {len(missed)} versions without an event "
                            f"(e.g. {missed[:10]}) and the watcher reported no gap")
    if not an.sessions:
        problems.append("no sessions under test")
    # Misses are accepted when the watcher reported the gap: pub/sub is at most once.
    return Verdict({"events": sum(len(v) for v in seen.values()), "committed": sum(
        v - 1 for v in map(an.version, an.sessions) if v), "missed": missing_total,
        "gap_notices": len(gap_notices)}, problems)


def origins(an):
    """Events name their writer: starts the control host, updates the worker host that made them."""
    objects, updated, problems = watched_events(an)
    started = [e for e in objects if e.get("type") == "session.started" and e.get("session_id") in an.final]
    problems += [f"{short(e['session_id'])}: session.started with origin {e.get('origin')!r}, "
                 f"expected {CONTROL_HOST!r}" for e in started if e.get("origin") != CONTROL_HOST]
    by_origin = collections.Counter(e.get("origin") for e in updated)
    committed = collections.Counter(an.requests[rid]["host"] for rid in an.requests if an.applied(rid))
    complete = sum(by_origin.values()) == sum(v - 1 for v in map(an.version, an.final) if v)
    for origin in set(by_origin) | set(committed):
        if origin not in WORKER_HOSTS:
            problems.append(f"{by_origin[origin]} session.updated events with origin {origin!r}")
        elif by_origin[origin] > committed[origin] or (complete and by_origin[origin] != committed[origin]):
            problems.append(f"{by_origin[origin]} events name {origin} but it committed {committed[origin]}")
    figures = {}
    for host in WORKER_HOSTS:
        figures.update({f"events_from_{host}": by_origin.get(host, 0), f"committed_by_{host}": committed.get(host, 0)})
    figures[f"starts_from_{CONTROL_HOST}"] = sum(1 for e in started if e.get("origin") == CONTROL_HOST)
    return Verdict(figures, problems)


def recovery(an):
    """Host 2 was really cut off (host 1 was not), and works again once reconnected."""
    reach, cut = an.outcome.reachable, an.outcome.partition_ms
    problems = []
    if reach.get(f"{CUT_HOST} during the partition") == "PONG":
        problems.append(f"{CUT_HOST} still reached Redis while cut off")
    if reach.get(f"{WITNESS_HOST} during the partition") != "PONG":
        problems.append(f"{WITNESS_HOST} lost Redis while {CUT_HOST} was cut off: "
                        f"{reach.get(f'{WITNESS_HOST} during the partition')}")
    if reach.get(f"{CUT_HOST} after the partition") != "PONG":
        problems.append(f"{CUT_HOST} did not reach Redis within 3 s of reconnecting")
    restored = cut.get("restored", 0) / 1000
    mine = [rid for rid in an.requests if an.requests[rid]["host"] == CUT_HOST and rid in an.reply_times]
    down = sorted(an.reply_times[rid] for rid in mine if rid in an.failed
                  and an.error_of(an.single(rid)).get("code") in UNREACHABLE_CODES)
    ok_after = sorted(an.reply_times[rid] for rid in mine if rid in an.acked and an.reply_times[rid] > restored)
    late = [rid for rid in mine if rid in an.failed and an.reply_times[rid] > restored + RECOVERY_SECONDS
            and an.error_of(an.single(rid)).get("code") in UNREACHABLE_CODES]
    if not ok_after:
        problems.append(f"{CUT_HOST} got no acknowledged reply after reconnecting")
    problems += [f"{rid}: still {an.error_of(an.single(rid)).get('code')} "
                 f"{an.reply_times[rid] - restored:.1f} s after reconnecting" for rid in late[:10]]
    figures = {"cut_ms": cut.get("cut"), "restored_ms": cut.get("restored"), f"unreachable_{CUT_HOST}": len(down)}
    if down:
        figures.update(first_failure_ms=round(down[0] * 1000), last_failure_ms=round(down[-1] * 1000))
    if ok_after:
        figures["first_ok_after_restore_ms"] = round((ok_after[0] - restored) * 1000)
    figures["acked_after_restore"] = len(ok_after)
    return Verdict(figures, problems)
