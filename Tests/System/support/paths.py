"""Where things are: the repository root and the opscore binary."""

import os
from pathlib import Path

# Tests/System/support/paths.py -> the repository root is three levels up.
REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OPSCORE_BIN = REPO_ROOT / ".build" / "debug" / "opscore"


def opscore_bin_path():
    """The binary named by OPSCORE_BIN (relative paths from the repository root),
    else the debug build."""
    configured = os.environ.get("OPSCORE_BIN")
    if not configured:
        return DEFAULT_OPSCORE_BIN
    path = Path(configured)
    return path if path.is_absolute() else REPO_ROOT / path
