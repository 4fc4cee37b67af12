"""A long-running opscore process (worker or watch) with its stderr in a file."""

import re
import subprocess
import threading
import time


class OpsCoreProcess:
    """Starts argv with stdout piped and stderr written to `err_path`; a reader
    thread hands every stdout line to on_line() (unless read_stdout is False)."""

    def __init__(self, children, argv, err_path, stdin=subprocess.DEVNULL, read_stdout=True):
        self.err_path = err_path
        with open(err_path, "wb") as err_file:    # the child keeps its own descriptor
            self.proc = children.spawn(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=err_file)
        self.cond = threading.Condition()
        self.reader = None
        if read_stdout:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    def _read(self):
        try:
            for line in self.proc.stdout:
                self.on_line(line, time.monotonic())
        except (OSError, ValueError):
            pass    # the pipe was closed at teardown

    def on_line(self, line, when):
        raise NotImplementedError

    def join_reader(self, timeout=5.0):
        if self.reader:
            self.reader.join(timeout)

    def stderr_text(self):
        with open(self.err_path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")

    def wait_stderr(self, pattern, count=1, timeout=10.0):
        """True once stderr matches pattern `count` times; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.stderr_text())) >= count:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def rss_kib(self):
        """Resident memory of the process in KiB (VmRSS)."""
        with open(f"/proc/{self.proc.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def wait_exit(self, timeout):
        """The exit code, or None if it is still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
