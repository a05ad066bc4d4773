"""Build hook: compiles the rules engine's hot path with mypyc when it can, installs it as plain Python otherwise.

Everything else about the package is in pyproject.toml. The compiled modules are the same source files: they
behave identically (the test suite and a Decision-by-Decision comparison run against both) and evaluate
contacts about 1.3-1.5x faster. When they cannot be built -- no C compiler (e.g. a slim Docker image), no
mypy in the build environment, a type error mypyc refuses, or CRMSYNC_PURE_PYTHON=1 -- the install goes on
with the pure-Python modules and says so. Editable installs (`pip install -e`) are never compiled, so that an
edit to a .py file always takes effect.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HOT_MODULES = [
    "sync/rules/conditions.py",
    "sync/rules/scoring.py",
    "sync/rules/qualification.py",
    "sync/rules/engine.py",
    "sync/rules/sla.py",
    "sync/rules/calendar.py",
    "sync/rules/native.py",
    "sync/rules/reasons.py",
]


def _warn(message: str) -> None:
    print(f"crmsync: {message}; installing the pure-Python rules engine (same behaviour, slower)", file=sys.stderr)


def _editable() -> bool:
    return any(arg in ("editable_wheel", "develop") or arg.startswith("--editable") for arg in sys.argv)


# The C evaluator of the rules' inner loops (sync/rules/native.py says what it does and how it falls back).
NATIVE = Extension("sync.rules._native", ["sync/rules/_native.c"], extra_compile_args=["-O2"])


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install: a compile error leaves the pure-Python modules in charge.

    The mypyc modules are all compiled or none (they call each other natively); the C evaluator is separate:
    without it the compiled engine runs its own loops."""

    def run(self) -> None:
        if getattr(self, "editable_mode", False) or self.inplace:
            return  # compiled modules in the source tree would shadow edits to the .py files
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler/linker failure means: fall back
            _warn(f"could not compile the rules engine ({type(exc).__name__}: {exc})")
            for ext in self.extensions:  # drop whatever part was built: all compiled or none
                if ext is NATIVE:
                    continue
                built = Path(self.get_ext_fullpath(ext.name))
                if built.exists():
                    built.unlink()

    def build_extension(self, ext: Extension) -> None:
        if ext is not NATIVE:
            super().build_extension(ext)
            return
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001 - without it the engine's own loops run
            print(f"crmsync: could not compile the C rules evaluator ({type(exc).__name__}: {exc}); "
                  "the rules engine runs without it (same behaviour, slower)", file=sys.stderr)


def _ext_modules() -> list[object]:
    if os.environ.get("CRMSYNC_PURE_PYTHON") == "1" or _editable():
        return []
    return [*_mypyc_modules(), NATIVE]


def _mypyc_modules() -> list[object]:
    try:
        from mypyc.build import mypycify
    except ImportError:
        _warn("mypy is not in the build environment")
        return []
    here = Path(__file__).resolve().parent
    cwd = Path.cwd()
    try:
        os.chdir(here)
        # only the compiled modules are type-checked: the rest of the package (pydantic models...) is read for
        # its types, silently, and the build environment need not hold the runtime dependencies -- except
        # msgspec (in pyproject's build requires), whose Struct class keywords mypy must know to accept
        return list(mypycify(["--follow-imports=silent", "--ignore-missing-imports", *HOT_MODULES], opt_level="3",
                                  group_name="crmsync_rules"))
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - mypyc exits on a type error
        _warn(f"mypyc could not compile the rules engine ({type(exc).__name__}: {exc})")
        return []
    finally:
        os.chdir(cwd)


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
