"""Shared fixtures of the OpsCore system tests.

Every test starts its own redis-server(s) on 127.0.0.1 (random free port below
the ephemeral range, its own temporary directory) and the opscore binary from
OPSCORE_BIN (default <repo>/.build/debug/opscore). Every process a test starts
is stopped at teardown, also when the test fails or times out.
"""

import os
import shutil

import pytest

from support.figures import FIGURES
from support.harness import Harness
from support.paths import opscore_bin_path


@pytest.fixture(scope="session")
def opscore_bin():
    """Path of the opscore binary under test; fails clearly when it is missing."""
    path = opscore_bin_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"opscore binary {path} not found or not executable: build it "
                    f"(swift build) or set OPSCORE_BIN", pytrace=False)
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server not found on PATH", pytrace=False)
    return path


@pytest.fixture
def harness(opscore_bin, tmp_path):
    """A Harness for one test: its processes are stopped when the test ends."""
    with Harness(opscore_bin, tmp_path) as test_harness:
        yield test_harness


@pytest.fixture(scope="module")
def module_harness(opscore_bin, tmp_path_factory, request):
    """A Harness shared by one module's tests (one scenario, several checks)."""
    directory = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with Harness(opscore_bin, directory) as shared:
        yield shared


@pytest.fixture
def redis_server(harness):
    """Factory: redis_server(*extra_args) starts a RedisServer for this test."""
    return harness.start_redis


@pytest.fixture
def run_opscore(harness):
    """run_opscore(url, *args, namespace=…, log_level=…, timeout=…) -> CliResult."""
    return harness.opscore


@pytest.fixture(scope="session")
def figures():
    """The FigureBook: figures recorded here are printed at the end of the run."""
    return FIGURES


def pytest_terminal_summary(terminalreporter):
    lines = FIGURES.summary()
    if lines:
        terminalreporter.write_sep("-", "OpsCore system figures")
        for line in lines:
            terminalreporter.write_line(line)
