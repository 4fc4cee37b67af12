"""One run of the `opscore` command line."""

import json
import subprocess
import time
from dataclasses import dataclass

from .child_processes import kill_group, spawn, stop


@dataclass
class CliResult:
    """Exit code (None when it had to be killed at the timeout), output and wall time."""

    rc: object
    out: bytes
    err: bytes
    elapsed: float

    @property
    def text(self):
        return self.out.decode("utf-8", "replace")

    @property
    def error_text(self):
        return self.err.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def json_lines(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def brief(self):
        return f"rc={self.rc} {self.error_text.strip()[:200]!r}"


def opscore_argv(binary, url, namespace="opscore", log_level=None, output_format="json"):
    """The global options every invocation starts with."""
    argv = [binary, "--redis-url", url, "--namespace", namespace]
    if output_format:
        argv += ["--format", output_format]
    if log_level:
        argv += ["--log-level", log_level]
    return argv


def run_opscore(binary, url, *args, namespace="opscore", log_level=None, timeout=15.0):
    """Runs `opscore --redis-url URL --namespace NS --format json ARGS…` (no shell)
    and returns its CliResult; the process is killed if it outlives timeout."""
    started = time.monotonic()
    proc = spawn(opscore_argv(binary, url, namespace, log_level) + list(args),
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        rc = None
    finally:
        stop(proc)
    return CliResult(rc, out, err, time.monotonic() - started)
