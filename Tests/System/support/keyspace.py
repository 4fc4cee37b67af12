"""What is stored in Redis, read with redis-py: snapshots for "nothing changed"
checks, and the retained events."""

import json

from .layout import event_stream_key, partition


def scan_keys(client):
    return sorted(set(client.scan_iter(count=1000)))


def _value(client, key, kind):
    if kind == b"hash":
        return client.hgetall(key)
    if kind == b"set":
        return sorted(client.smembers(key))
    if kind == b"zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == b"string":
        return client.get(key)
    return kind


def snapshot(client):
    """Every key with its type and contents."""
    state = {}
    for key in scan_keys(client):
        kind = client.type(key)
        state[key] = (kind, _value(client, key, kind))
    return state


def changed_keys(before, after):
    """Keys added, removed or changed between two snapshots."""
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


def stream_events(client, namespace, session_ids):
    """The retained events of these sessions' partitions, oldest first per
    partition: {label: [(stream id, event), …]}."""
    return {label: [(entry_id.decode(), json.loads(fields[b"event"]))
                    for entry_id, fields in client.xrange(event_stream_key(namespace, label))]
            for label in sorted({partition(sid) for sid in session_ids})}
