"""Reading a worker's replies to numbered updates in a failover scenario: the run
holds "worker", "sessions" (update n went to sessions[n % len]) and "replies"
({str(n): [reply, …]} for every update n sent)."""


def reply_code(reply):
    """ "ok", the error code, or None for no reply."""
    if reply is None:
        return None
    return "ok" if reply.get("ok") is True else (reply.get("error") or {}).get("code")


def first_replies(run):
    """(n, time sent, first reply) for every update that got a reply."""
    worker, replies = run["worker"], run["replies"]
    return [(n, worker.sent[str(n)], replies[str(n)][0]) for n in range(len(replies)) if replies[str(n)]]


def acknowledged(run, session_id):
    """The sessions in the ok first replies to the updates of `session_id`."""
    index, count = run["sessions"].index(session_id), len(run["sessions"])
    return [reply["session"] for n, _, reply in first_replies(run)
            if n % count == index and reply_code(reply) == "ok"]
