#!/usr/bin/env python3
"""Helpers for scripts/multihost-test.sh.

  gen    write one host's request stream (JSON lines) to stdout
  feed   copy a request file to stdout line by line, paced
  seen   exit 0 once the watcher has printed every session's final version
  check  checks a-d over the run's files; appends PASS/FAIL lines to --results

Only the standard library is used. Run directory layout (all written by the
shell script):

  sessions.txt          the session ids under test, one a line
  final.jsonl           `opscore --format json session get` of each, one a line
  <host>.requests.jsonl the requests fed to that host's worker
  <host>.out            that worker's stdout (one reply a line)
  watch.out, watch.err  the watcher's stdout (events) and stderr
"""

import argparse
import collections
import json
import os
import re
import sys
import time

ALLOWED_FAILURE_CODES = {"redis_unavailable", "redis_timeout", "conflict"}
# How a reply says its change may or may not have been applied (an EXEC whose
# reply never arrived), e.g. "Redis connection lost during commit; the change
# may or may not have been applied". An `"outcome":"unknown"` field also counts.
UNKNOWN_OUTCOME = re.compile(
    r"outcome\W+(is\W+)?unknown|unknown\W+outcome|may or may not have (been )?appl", re.I)
# The watcher says so on stderr, e.g. "… reconnecting; events may have been
# missed" or "reconnected to Redis; events published while disconnected were missed".
GAP_NOTICE = re.compile(r"\bmissed\b", re.I)


# --------------------------------------------------------------------- gen/feed

def cmd_gen(args):
    sessions = [s for s in args.sessions.split(",") if s]
    if not sessions:
        sys.exit("gen: no sessions")
    out = sys.stdout
    for i in range(1, args.count + 1):
        rid = f"{args.host}-{i}"
        request = {
            "id": rid,
            "op": "update",
            "session_id": sessions[(i - 1) % len(sessions)],
            "metadata": {rid: i},
        }
        out.write(json.dumps(request, separators=(",", ":")) + "\n")


def cmd_feed(args):
    try:
        with open(args.file, encoding="utf-8") as source:
            for line in source:
                sys.stdout.write(line)
                sys.stdout.flush()
                if args.pace > 0:
                    time.sleep(args.pace)
    except BrokenPipeError:
        # The worker went away before reading everything; the checks report it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"feed: {args.file}: worker closed its stdin early", file=sys.stderr)
        sys.exit(3)


# ----------------------------------------------------------------------- common

def read_lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        return None


def read_json_lines(path):
    """Returns (objects, bad_lines); objects is [] when the file is missing."""
    lines = read_lines(path)
    objects, bad = [], []
    for n, line in enumerate(lines or [], 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            bad.append((n, line))
            continue
        if isinstance(value, dict):
            objects.append(value)
        else:
            bad.append((n, line))
    return objects, bad


def load_final(run_dir, sessions):
    """session_id -> session object from final.jsonl (only the ones under test)."""
    objects, _ = read_json_lines(os.path.join(run_dir, "final.jsonl"))
    final = {}
    for obj in objects:
        sid = obj.get("session_id")
        if sid in sessions:
            final[sid] = obj
    return final


def as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def event_versions(run_dir, sessions):
    """session_id -> list of versions seen in session.updated events."""
    objects, bad = read_json_lines(os.path.join(run_dir, "watch.out"))
    seen = collections.defaultdict(list)
    for event in objects:
        if event.get("type") != "session.updated":
            continue
        sid = event.get("session_id")
        version = as_int(event.get("version"))
        if sid in sessions and version is not None:
            seen[sid].append(version)
    return seen, bad


def cmd_seen(args):
    sessions = set(read_lines(os.path.join(args.dir, "sessions.txt")) or [])
    final = load_final(args.dir, sessions)
    seen, _ = event_versions(args.dir, sessions)
    for sid in sessions:
        version = as_int(final.get(sid, {}).get("version"))
        if version is None:
            sys.exit(1)
        if version > 1 and version not in seen.get(sid, []):
            sys.exit(1)
    sys.exit(0)


# ------------------------------------------------------------------------ check

class Report:
    def __init__(self, results_path):
        self.results_path = results_path
        self.failed = 0

    def record(self, name, ok, summary, details=()):
        status = "PASS" if ok else "FAIL"
        if not ok:
            self.failed += 1
        details = list(details)
        print(f"[{status}] {name}: {summary}")
        for line in details[:20]:
            print(f"         {line}")
        if len(details) > 20:
            print(f"         … and {len(details) - 20} more")
        with open(self.results_path, "a", encoding="utf-8") as f:
            f.write(f"{status} {name}: {summary}\n")


def cmd_check(args):
    run_dir = args.dir
    hosts = [h for h in args.hosts.split(",") if h]
    report = Report(args.results)
    sessions = [s for s in (read_lines(os.path.join(run_dir, "sessions.txt")) or []) if s]
    session_set = set(sessions)
    final = load_final(run_dir, session_set)

    # ---- requests and replies
    requests = {}  # id -> dict(host, session, key, value)
    for host in hosts:
        objects, bad = read_json_lines(os.path.join(run_dir, f"{host}.requests.jsonl"))
        for req in objects:
            (key, value), = req["metadata"].items()
            requests[req["id"]] = {"host": host, "session": req["session_id"], "key": key, "value": value}

    replies = collections.defaultdict(list)  # id -> [reply]
    problems_a = []
    for host in hosts:
        path = os.path.join(run_dir, f"{host}.out")
        if read_lines(path) is None:
            problems_a.append(f"{host}: no stdout file {path}")
            continue
        objects, bad = read_json_lines(path)
        for n, line in bad:
            problems_a.append(f"{host}.out line {n} is not a JSON object: {line[:120]!r}")
        for reply in objects:
            rid = reply.get("id")
            if rid not in requests:
                problems_a.append(f"{host}: reply with unknown id {rid!r}: {json.dumps(reply)[:160]}")
                continue
            if requests[rid]["host"] != host:
                problems_a.append(f"{host}: reply for {rid} which was sent to {requests[rid]['host']}")
            replies[rid].append(reply)

    missing = [rid for rid in requests if rid not in replies]
    duplicated = [rid for rid, rs in replies.items() if len(rs) > 1]
    for rid in missing[:10]:
        problems_a.append(f"no reply for {rid}")
    if len(missing) > 10:
        problems_a.append(f"… {len(missing)} requests without a reply in all")
    for rid in duplicated[:10]:
        problems_a.append(f"{len(replies[rid])} replies for {rid}")

    def single(rid):
        rs = replies.get(rid) or []
        return rs[0] if len(rs) == 1 else None

    acked = [rid for rid in requests if (single(rid) or {}).get("ok") is True]
    failed = [rid for rid in requests if single(rid) is not None and single(rid).get("ok") is not True]

    for sid in sessions:
        if sid not in final:
            problems_a.append(f"no final state for session {sid} (session get failed?)")

    for rid in acked:
        req = requests[rid]
        reply = single(rid)
        state = final.get(req["session"])
        if state is None:
            continue
        metadata = state.get("metadata")
        if not isinstance(metadata, dict):
            problems_a.append(f"final {req['session']}: metadata is not an object")
            continue
        if metadata.get(req["key"]) != req["value"]:
            problems_a.append(f"acknowledged {rid} but final {req['session'][:8]}… metadata "
                              f"has {req['key']}={metadata.get(req['key'])!r}")
        got = reply.get("session")
        if not isinstance(got, dict) or got.get("session_id") != req["session"]:
            problems_a.append(f"{rid}: ok reply without the updated session: {json.dumps(reply)[:160]}")

    report.record(
        "a replies and acknowledged writes",
        not problems_a and bool(requests),
        f"{len(requests)} requests, {sum(len(r) for r in replies.values())} replies "
        f"({len(acked)} ok, {len(failed)} failed), {len(missing)} missing, {len(duplicated)} duplicated",
        problems_a,
    )

    # ---- b: failure codes
    codes = collections.Counter()
    by_host = collections.Counter()
    problems_b = []
    unknown_outcome = set()
    # Every failed reply counts here, duplicates included (check a flags those).
    for rid, rs in replies.items():
        for reply in rs:
            if reply.get("ok") is True:
                continue
            error = reply.get("error") if isinstance(reply.get("error"), dict) else {}
            code = error.get("code")
            message = str(error.get("message", ""))
            codes[code] += 1
            by_host[requests[rid]["host"]] += 1
            if code not in ALLOWED_FAILURE_CODES:
                problems_b.append(f"{rid}: error code {code!r}: {message[:120]}")
            if len(rs) == 1 and (error.get("outcome") == "unknown" or UNKNOWN_OUTCOME.search(message)):
                unknown_outcome.add(rid)
    counts = ", ".join(f"{c}={n}" for c, n in sorted(codes.items(), key=lambda kv: str(kv[0]))) or "none"
    hosts_text = ", ".join(f"{h}={by_host.get(h, 0)}" for h in hosts)
    report.record(
        "b failure codes",
        not problems_b,
        f"failures by code: {counts}; by host: {hosts_text}; outcome unknown: {len(unknown_outcome)}",
        problems_b,
    )

    # ---- c: gap-free versions
    problems_c = []
    lines_c = []
    for sid in sessions:
        state = final.get(sid)
        version = as_int((state or {}).get("version"))
        if version is None:
            problems_c.append(f"{sid}: no final version")
            continue
        metadata = state.get("metadata") if isinstance(state.get("metadata"), dict) else {}
        mine = [rid for rid in requests if requests[rid]["session"] == sid]
        n_acked = sum(1 for rid in mine if rid in acked)
        unknown = [rid for rid in mine if rid in unknown_outcome]
        unknown_applied = [rid for rid in unknown if requests[rid]["key"] in metadata]
        # A definite failure (or no reply) must not have changed the session.
        for rid in mine:
            if rid in acked or rid in unknown:
                continue
            if requests[rid]["key"] in metadata:
                n = len(replies.get(rid) or [])
                what = "failed" if n == 1 else ("unanswered" if n == 0 else f"{n}-times-answered")
                problems_c.append(f"{sid[:8]}…: {what} request {rid} was applied anyway")
        # Versions reported back to acknowledged updates must be distinct.
        reported = collections.Counter(as_int(single(rid).get("session", {}).get("version"))
                                       for rid in mine if rid in acked
                                       and isinstance(single(rid).get("session"), dict))
        clashes = [v for v, n in reported.items() if v is not None and n > 1]
        if clashes:
            problems_c.append(f"{sid[:8]}…: several acknowledged updates got version(s) {sorted(clashes)[:10]}")
        extra = version - 1 - n_acked
        lines_c.append(f"{sid[:8]}…: version {version} = 1 + {n_acked} acked + {extra} more; "
                       f"{len(unknown)} outcome-unknown replies, {len(unknown_applied)} of them applied")
        if extra != len(unknown_applied):
            problems_c.append(f"{sid[:8]}…: version {version} but 1 + {n_acked} acknowledged + "
                              f"{len(unknown_applied)} applied outcome-unknown = "
                              f"{1 + n_acked + len(unknown_applied)}")
    for line in lines_c:
        print(f"         {line}")
    total_unknown = len(unknown_outcome)
    report.record(
        "c versions gap-free",
        not problems_c and bool(sessions),
        f"{len(sessions)} sessions, outcome-unknown updates: {total_unknown}",
        problems_c,
    )

    # ---- d: events
    seen, bad_events = event_versions(run_dir, session_set)
    err_lines = read_lines(os.path.join(run_dir, "watch.err")) or []
    gap_notices = [line for line in err_lines if GAP_NOTICE.search(line)]
    problems_d = []
    for n, line in bad_events:
        problems_d.append(f"watch.out line {n} is not a JSON object: {line[:120]!r}")
    missing_total = 0
    for sid in sessions:
        version = as_int((final.get(sid) or {}).get("version"))
        if version is None:
            problems_d.append(f"{sid}: no final version")
            continue
        expected = set(range(2, version + 1))
        got = collections.Counter(seen.get(sid, []))
        dupes = sorted(v for v, n in got.items() if n > 1)
        unexpected = sorted(set(got) - expected)
        missed = sorted(expected - set(got))
        missing_total += len(missed)
        if dupes:
            problems_d.append(f"{sid[:8]}…: versions announced more than once: {dupes[:10]}")
        if unexpected:
            problems_d.append(f"{sid[:8]}…: events for versions that never committed: {unexpected[:10]}")
        if missed and not gap_notices:
            problems_d.append(f"{sid[:8]}…: {len(missed)} versions without an event "
                              f"(e.g. {missed[:10]}) and the watcher reported no gap")
    summary = (f"{sum(len(v) for v in seen.values())} session.updated events; "
               f"{missing_total} versions missed; watcher gap notices: {len(gap_notices)}")
    if missing_total and gap_notices:
        summary += " (misses accepted: pub/sub is at-most-once and the gap was reported)"
    report.record("d watcher saw every committed change", not problems_d and bool(sessions), summary, problems_d)

    return 0 if report.failed == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("gen")
    p.add_argument("--host", required=True)
    p.add_argument("--sessions", required=True, help="comma-separated session ids")
    p.add_argument("--count", type=int, default=300)
    p.set_defaults(func=cmd_gen)

    p = sub.add_parser("feed")
    p.add_argument("--pace", type=float, default=0.03, help="seconds between lines")
    p.add_argument("file")
    p.set_defaults(func=cmd_feed)

    p = sub.add_parser("seen")
    p.add_argument("--dir", required=True)
    p.set_defaults(func=cmd_seen)

    p = sub.add_parser("check")
    p.add_argument("--dir", required=True)
    p.add_argument("--hosts", required=True, help="comma-separated host names, e.g. h1,h2,h3")
    p.add_argument("--results", required=True, help="file to append PASS/FAIL lines to")
    p.set_defaults(func=cmd_check)

    args = parser.parse_args()
    sys.exit(args.func(args) or 0)


if __name__ == "__main__":
    main()
