"""A running `opscore --format json watch` collecting the events it prints."""

import json
import signal

from .cli import opscore_argv
from .opscore_process import OpsCoreProcess


class OpsCoreWatcher(OpsCoreProcess):
    """`opscore watch`; `events` holds every line printed, parsed as JSON
    (unparsable lines as {"unparsable": text})."""

    def __init__(self, children, binary, url, err_path, namespace="opscore", extra_args=(), read_stdout=True):
        self.events = []
        argv = opscore_argv(binary, url, namespace) + ["watch", *extra_args]
        super().__init__(children, argv, err_path, read_stdout=read_stdout)

    def on_line(self, line, when):
        try:
            event = json.loads(line)
        except ValueError:
            event = {"unparsable": line.decode("utf-8", "replace")}
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_subscribed(self, timeout=10.0):
        """True once watch says on stderr that it is watching."""
        return self.wait_stderr(r"watching", timeout=timeout)

    def wait_event(self, predicate, timeout=5.0):
        """The first event matching predicate, or None after timeout."""
        found = []

        def ready():
            found[:] = [event for event in self.events if predicate(event)][:1]
            return bool(found)

        with self.cond:
            if self.cond.wait_for(ready, timeout):
                return found[0]
        return None

    def stop(self, timeout=5.0):
        """SIGTERM; returns the exit code (None if it did not exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)
