"""Judges a multi-host ``Outcome``: one function per guarantee.

Each returns a ``Verdict``: the run's figures for it (name -> number), the
problems found (empty when the guarantee held) and, for some, figures per
session; ``judge`` records it and fails the test on a problem.
``Analysis`` pairs the requests sent with the replies read once, for all.
Also used by the multi-host Sentinel scenario (multihost_sentinel.py).
"""

import collections
import dataclasses
import json
import re

from .layout import PARTITIONS
from .multihost_record import (CONSUME_GROUP, CONTROL_HOST, CUT_HOST, WATCH_CUT_PHASE, WATCH_HOST, WITNESS_HOST,
                               WORKER_HOSTS)

ALLOWED_FAILURE_CODES = {"redis_unavailable", "redis_timeout", "conflict"}
UNREACHABLE_CODES = {"redis_unavailable", "redis_timeout"}
# How a reply says its change may or may not have been applied (an EXEC whose
# reply never arrived), e.g. "Redis connection lost during commit; the change
# may or may not have been applied". An `"outcome":"unknown"` field also counts.
UNKNOWN_OUTCOME = re.compile(
    r"outcome\W+(is\W+)?unknown|unknown\W+outcome|may or may not have (been )?appl", re.I)
# A watcher reporting events it could not print: on stderr "… were missed"
# (the old pub/sub watch) or a feed.gap warning. With the durable feed and
# default retention neither may happen here.
GAP_NOTICE = re.compile(r"\bmissed\b|feed\.gap", re.I)
# The watcher's stderr on losing and regaining Redis, e.g. "lost connection to
# Redis (…); resuming where it was once it is back", "reconnected to Redis; …".
LOST_NOTICE = re.compile(r"lost connection", re.I)
RECONNECTED_NOTICE = re.compile(r"\breconnected\b", re.I)
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


def judge(figures, title, verdict, outcome):
    """Records VERDICT's figures as TITLE (its details as "TITLE label"), then fails the
    test with its problems and OUTCOME's steps and logs."""
    figures.record(title, **verdict.figures)
    for label, per_session in verdict.details.items():
        figures.record(f"{title} {label}", **per_session)
    assert not verdict.problems, f"{verdict.explain()}\n{outcome.tail()}"


def lab_cleanup(lab):
    """Closes LAB early (its own close is then a no-op) and judges what is left behind:
    namespaces or links, and processes it started that still run."""
    processes, made = list(lab.processes), list(lab.created_namespaces)
    lab.close()
    problems = [f"left behind: {name}" for name in lab.leftovers()]
    problems += [f"process {p.pid} ({' '.join(p.args[4:6])}) still running" for p in processes if p.poll() is None]
    return Verdict({"processes": len(processes), "namespaces": len(made), "leftovers": len(problems)}, problems)


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
        self._read_feed(outcome.feed)

    def _read_feed(self, entries):
        """The committed events, from the streams: (session_id, version) -> {stream_id, partition, type}."""
        self.feed, self.feed_problems = {}, []
        for label, stream_id, text in entries:
            try:
                event = json.loads(text)
            except (TypeError, ValueError):
                event = None
            if not isinstance(event, dict) or not isinstance(event.get("session_id"), str) \
                    or not isinstance(event.get("version"), int):
                self.feed_problems.append(f"stream {label} entry {stream_id}: not an event: {str(text)[:120]!r}")
                continue
            key = (event["session_id"], event["version"])
            if key in self.feed:
                self.feed_problems.append(f"{short(key[0])} version {key[1]} is in the streams twice "
                                          f"({self.feed[key]['stream_id']}, {stream_id})")
                continue
            if not event["session_id"].lower().startswith(label):
                self.feed_problems.append(f"{short(key[0])} version {key[1]} in partition {label}'s stream")
            self.feed[key] = {"stream_id": stream_id, "partition": label, "type": event.get("type")}
        for sid in self.sessions:  # the streams hold every committed version of the sessions under test
            version = self.version(sid)
            if version is None:
                continue
            in_feed = {v for s, v in self.feed if s == sid}
            lacking = sorted(set(range(1, version + 1)) - in_feed)
            beyond = sorted(in_feed - set(range(1, version + 1)))
            if lacking:
                self.feed_problems.append(f"{short(sid)}: committed versions {lacking[:10]} are not in the streams")
            if beyond:
                self.feed_problems.append(f"{short(sid)}: the streams have versions {beyond[:10]} beyond "
                                          f"the final version {version}")
        if not self.feed:
            self.feed_problems.append("the event streams are empty")

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

    def failures(self):
        """(request id, error object) of every failed reply, duplicates included."""
        return [(rid, self.error_of(reply)) for rid, replies in self.replies.items() for reply in replies
                if reply.get("ok") is not True]

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
    for rid, error in an.failures():
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


def feed_events(objects, where):
    """[(session_id, version, stream_id)] of OBJECTS, in order, and problems with objects that are no event."""
    events, problems = [], []
    for event in objects:
        if event.get("type") == "feed.gap":
            problems.append(f"{where}: gap reported: {json.dumps(event)[:160]}")
        elif not isinstance(event.get("session_id"), str) or not isinstance(event.get("version"), int):
            problems.append(f"{where}: not a session event: {json.dumps(event)[:160]}")
        else:
            events.append((event["session_id"], event["version"], event.get("stream_id")))
    return events, problems


def against_feed(an, events, where):
    """Compares EVENTS [(session_id, version, stream_id)] with the committed ones: (counts, missing, problems)."""
    problems = []
    counts = collections.Counter((sid, version) for sid, version, _ in events)
    missing = sorted(set(an.feed) - set(counts))
    unexpected = sorted(set(counts) - set(an.feed))
    problems += [f"{where}: no event for committed {short(sid)} version {v}" for sid, v in missing[:10]]
    if len(missing) > 10:
        problems.append(f"{where}: … {len(missing)} committed events missing in all")
    problems += [f"{where}: event for {short(sid)} version {v}, which is not in the streams"
                 for sid, v in unexpected[:10]]
    wrong_ids = [(sid, v, got) for sid, v, got in events
                 if (sid, v) in an.feed and got != an.feed[(sid, v)]["stream_id"]]
    problems += [f"{where}: {short(sid)} version {v} with stream_id {got!r}, "
                 f"the stream has {an.feed[(sid, v)]['stream_id']}" for sid, v, got in wrong_ids[:10]]
    return counts, missing, len(wrong_ids), problems


def every_event_once(an):
    """d: the watch host, cut off while updates were committed, printed every committed event exactly
    once, per session in version order, and said it lost the connection and reconnected; no gap."""
    objects, updated, problems = watched_events(an)
    problems += an.feed_problems
    events, odd = feed_events(objects, "watch stdout")
    problems += odd
    counts, missing, wrong_ids, found = against_feed(an, events, "watch")
    problems += found
    dupes = sorted(key for key, n in counts.items() if n > 1)
    problems += [f"{short(sid)}: version {v} printed {counts[(sid, v)]} times" for sid, v in dupes[:10]]
    out_of_order = 0
    order = collections.defaultdict(list)
    for sid, version, _ in events:
        order[sid].append(version)
    for sid, versions in order.items():
        backwards = [(a, b) for a, b in zip(versions, versions[1:]) if b <= a]
        out_of_order += len(backwards)
        if backwards:
            problems.append(f"{short(sid)}: versions printed out of order, e.g. {backwards[0][1]} after "
                            f"{backwards[0][0]}")
    if not an.outcome.watcher_subscribed:
        problems.append("the watcher printed no event for the probe session within 4 s of starting")
    # Its link was cut while updates were committed, and it noticed.
    err = an.outcome.watch_err
    lost = [n for n, line in enumerate(err) if LOST_NOTICE.search(line)]
    back = [n for n, line in enumerate(err) if RECONNECTED_NOTICE.search(line)]
    gap_notices = [line for line in err if GAP_NOTICE.search(line)]
    if not lost:
        problems.append("the watcher's stderr never says it lost the connection")
    if not back or (lost and back[-1] < lost[0]):
        problems.append("the watcher's stderr never says it reconnected after losing the connection")
    problems += [f"watch stderr reports a gap: {line[:160]}" for line in gap_notices[:5]]
    reach, cut = an.outcome.reachable, an.outcome.partition_ms
    problems += cut_off_problems(reach, WATCH_HOST, WATCH_CUT_PHASE)
    start, end = cut.get("watch_cut", 0) / 1000, cut.get("watch_restored", 0) / 1000
    while_cut = sum(1 for rid in an.acked if start < an.reply_times.get(rid, -1) < end)
    if not while_cut:
        problems.append(f"no update was acknowledged while {WATCH_HOST} was cut off")
    if not an.sessions:
        problems.append("no sessions under test")
    seen = {(e["session_id"], e.get("version")) for e in updated}
    committed_updates = sum(v - 1 for v in map(an.version, an.sessions) if v)
    figures = {"events": len(updated), "committed": committed_updates,
               "missed": committed_updates - len(seen & set(an.feed)), "gap_notices": len(gap_notices),
               "printed": len(events), "feed_events": len(an.feed), "missing": len(missing),
               "duplicates": len(events) - len(counts), "out_of_order": out_of_order, "wrong_stream_ids": wrong_ids,
               "disconnections": len(lost), "reconnections": len(back),
               "watch_cut_ms": cut.get("watch_cut"), "watch_restored_ms": cut.get("watch_restored"),
               "acked_while_cut": while_cut}
    return Verdict(figures, problems)


def consumed_every_event(an):
    """The consume host handled every committed event at least once, and nothing is left pending."""
    pairs, problems = parse_objects(an.outcome.consumed, "handler output")
    problems += an.feed_problems
    events, odd = feed_events([event for _, event in pairs], "handler output")
    problems += odd
    counts, missing, wrong_ids, found = against_feed(an, events, "consume")
    problems += found
    pending = an.outcome.pending
    for label in PARTITIONS:
        count = pending.get(label, "not read")
        if count != 0:
            problems.append(f"XPENDING of partition {label}, group {CONSUME_GROUP}: {count} (expected 0)")
    status = an.outcome.consumer_exit_status
    if status != 0:
        problems.append(f"the consumer {'did not exit' if status is None else f'exited {status}'} on SIGTERM "
                        "(expected 0)")
    figures = {"events": len(an.feed), "handled_runs": len(events), "handled_distinct": len(counts),
               "duplicates": len(events) - len(counts), "missing": len(missing), "wrong_stream_ids": wrong_ids,
               "pending": sum(n for n in pending.values() if isinstance(n, int)),
               "caught_up_ms": an.outcome.consume_caught_up_ms, "exit_ms": an.outcome.consumer_exit_ms}
    return Verdict(figures, problems)


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


def cut_off_problems(reach, host, phase):
    """`host` did not reach Redis during `phase` while the witness host did, and
    reached it again afterwards."""
    problems = []
    if reach.get(f"{host} during {phase}") == "PONG":
        problems.append(f"{host} still reached Redis while cut off")
    if reach.get(f"{WITNESS_HOST} during {phase}") != "PONG":
        problems.append(f"{WITNESS_HOST} lost Redis while {host} was cut off: {reach.get(f'{WITNESS_HOST} during {phase}')}")
    if reach.get(f"{host} after {phase}") != "PONG":
        problems.append(f"{host} did not reach Redis within 3 s of reconnecting")
    return problems


def recovery(an):
    """Host 2 was really cut off (host 1 was not), and works again once reconnected."""
    reach, cut = an.outcome.reachable, an.outcome.partition_ms
    problems = cut_off_problems(reach, CUT_HOST, "the partition")
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
