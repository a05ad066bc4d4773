"""How fast `crmsync` answers: `--help`, `--version` and `rules check` on the shipped rules, side by side with
bare Python and with Python importing the CLI library alone, in the same run.

    python benchmarks/cli_startup.py              # median of 10 of each, interleaved
    python benchmarks/cli_startup.py --runs 30

Every command is started as a new process (what a user waits for), round after round, each round running
every command once, so that a machine busy with something else slows them all alike. The bounds:
`--help` and `--version` within 3x `python -c "import typer"` (bare Python plus the CLI library's own
import: typer, which loads rich when it formats help), and `rules check` within 0.5 s. On a machine shared
with other work the absolute figures move from run to run; the ratios move much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HELP_BOUND = 3.0  # x the CLI library's import
RULES_CHECK_BOUND = 0.5  # seconds


def crmsync_script() -> str:
    """The `crmsync` of this interpreter's environment (the venv's script, not whatever the PATH finds)."""
    script = Path(sys.executable).parent / "crmsync"
    if not script.exists():
        raise SystemExit(f"no crmsync script beside {sys.executable}: install crmsync in this environment")
    return str(script)


def commands() -> dict[str, list[str]]:
    crmsync = crmsync_script()
    return {
        "bare python (-c pass)": [sys.executable, "-c", "pass"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "crmsync --help": [crmsync, "--help"],
        "crmsync --version": [crmsync, "--version"],
        "crmsync rules check": [crmsync, "rules", "check"],
    }


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "COLUMNS": "100"})
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="rounds (the median is reported)")
    args = parser.parse_args()
    todo = commands()
    for argv in todo.values():  # warm the file cache and the bytecode caches: not what is measured
        timed(argv)
    samples: dict[str, list[float]] = {name: [] for name in todo}
    for _ in range(args.runs):
        for name, argv in todo.items():
            samples[name].append(timed(argv))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    bare, library = medians["bare python (-c pass)"], medians["python -c 'import typer'"]
    print(f"median of {args.runs}, seconds (min - max)")
    for name, values in samples.items():
        print(f"  {name:<28} {medians[name]:.3f}   ({min(values):.3f} - {max(values):.3f})")
    bound = HELP_BOUND * library
    print(f"\nbound for --help and --version: {HELP_BOUND:g} x {library:.3f} = {bound:.3f} s "
          f"(bare python alone: {bare:.3f} s, the CLI library adds {library - bare:.3f} s)")
    failed = []
    for name in ("crmsync --help", "crmsync --version"):
        ratio = medians[name] / library
        verdict = "ok" if medians[name] <= bound else "OVER"
        print(f"  {name:<20} {medians[name]:.3f} s = {ratio:.2f} x the library import   {verdict}")
        if verdict != "ok":
            failed.append(name)
    check = medians["crmsync rules check"]
    verdict = "ok" if check <= RULES_CHECK_BOUND else "OVER"
    print(f"  {'crmsync rules check':<20} {check:.3f} s (bound {RULES_CHECK_BOUND} s)   {verdict}")
    if verdict != "ok":
        failed.append("crmsync rules check")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
