"""How the user typed `crmsync`, so that a command crmsync prints (the demo's next steps, the `rules diff`
that `rules calibrate` suggests) runs as printed in the same shell."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def crmsync_command() -> str:
    """How to type `crmsync` in this shell: plain `crmsync` when that is the one on the PATH, else the path
    of the virtual environment's script (relative to the working directory when it is under it), never a
    path into site-packages."""
    script = Path(sys.argv[0])
    if script.name != "crmsync" or not script.exists():
        script = Path(sys.executable).parent / "crmsync"
    found = shutil.which("crmsync")
    if found is not None and Path(found).resolve() == script.resolve():
        return "crmsync"
    absolute = script.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


__all__ = ["crmsync_command"]
