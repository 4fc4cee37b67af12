"""The README's "use the tool yourself" steps work as written for a newcomer:
after the build step, `opscore` is found on the PATH the README sets, and each
command succeeds against a running Redis."""

import os
import re
import subprocess

from support.paths import REPO_ROOT

INTRO = "To use the tool yourself"


def readme_steps():
    """The shell block that follows the README's INTRO paragraph."""
    text = (REPO_ROOT / "README.md").read_text()
    after = text[text.index(INTRO):]
    return re.search(r"```sh\n(.*?)```", after, re.S).group(1)


def test_the_readme_steps_find_opscore_on_the_path_they_set_and_succeed(harness, opscore_bin, tmp_path):
    steps = readme_steps()
    assert "swift build -c release" in steps
    server = harness.start_redis(name="readme")
    # The build step is the one thing not repeated here: a release build takes minutes.
    # The checkout it runs in gets the binary under test where that build puts it.
    checkout = tmp_path / "checkout"
    (checkout / ".build" / "release").mkdir(parents=True)
    os.symlink(opscore_bin, checkout / ".build" / "release" / "opscore")
    script = steps.replace("swift build -c release\n", "")
    script = script.replace("redis://127.0.0.1:6379/0", server.url)
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("OPSCORE_") and key != "PATH"}
    environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"    # no opscore on it
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=checkout, env=environment,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "command not found" not in result.stderr
    # The last step printed the session the earlier ones started and paused.
    assert re.search(r"status\s+paused", result.stdout) or '"status":"paused"' in result.stdout, result.stdout
