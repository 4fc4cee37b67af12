"""Every process a test starts, so that all of them can be stopped together."""

import os
import signal
import subprocess
import threading


def spawn(argv, **kwargs):
    """Starts argv in its own session (and so its own process group), stdin
    closed unless given: a signal for the test runner does not reach it, and
    stop() can kill the whole group."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen([str(arg) for arg in argv], start_new_session=True, **kwargs)


def kill_group(proc):
    """SIGKILLs proc's process group, thawing it first in case it was SIGSTOPped."""
    if proc.poll() is None:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass


def stop(proc, timeout=5.0):
    """Kills proc's process group, reaps proc and closes its pipes.
    Safe to call more than once."""
    if proc.poll() is None:
        kill_group(proc)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            if pipe:
                pipe.close()
        except (OSError, ValueError):
            pass


class ChildProcesses:
    """A register of started processes; stop_all() kills every one still running."""

    def __init__(self):
        self._procs = []
        self._lock = threading.Lock()

    def spawn(self, argv, **kwargs):
        proc = spawn(argv, **kwargs)
        with self._lock:
            self._procs.append(proc)
        return proc

    def stop_all(self):
        with self._lock:
            procs, self._procs = self._procs, []
        for proc in procs:
            stop(proc)
