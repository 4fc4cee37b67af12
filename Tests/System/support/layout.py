"""The key layout (layout 2) as a redis-cli user sees it: 16 partitions, each
key of a partition with the hash tag {p}, p the session id's first hex digit."""

PARTITIONS = "0123456789abcdef"


def partition(session_id):
    """The partition label of a session: its id's first hex digit."""
    return session_id[0].lower()


def session_key(namespace, session_id):
    return f"{namespace}:{{{partition(session_id)}}}:session:{session_id}"


def agents_key(namespace, label):
    return f"{namespace}:{{{label}}}:agents"


def agent_index_key(namespace, agent, label):
    return f"{namespace}:{{{label}}}:agent:{agent}:sessions"


def by_update_key(namespace, label):
    return f"{namespace}:{{{label}}}:by_update"


def event_stream_key(namespace, label):
    return f"{namespace}:{{{label}}}:events"


def meta_key(namespace):
    return f"{namespace}:meta"


def register_agent(client, namespace, agent):
    """Registers an agent the way `agent register` does: in all 16 partitions."""
    for label in PARTITIONS:
        client.sadd(agents_key(namespace, label), agent)
