"""Regular expressions from a rules file, run by RE2: linear time in the text, whatever the pattern.

An admin's pattern must never hang the engine: with backtracking (Python's
`re`), `(a+)+$` on a 4,000-character title or `^(\\w+\\s?)+$` on 28 characters
takes minutes. RE2 (google-re2, the engine Prometheus and Grafana use for the
same reason) matches in time linear in the text and bounds each pattern's
memory (8 MiB). What RE2 cannot run (backreferences, look-around) is rejected
when the rules load, with a message saying why, as is anything outside the
limits below: RE2 itself treats an over-large repeat count such as `a{4294967296}`
as literal text, which is never what the admin meant.

Matching goes through the extension's `RE2.Match` when it is there (about three
times cheaper than the module's `search`, which builds a match object); the
module's public `search` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

MAX_LENGTH = 2000  # characters of one pattern
MAX_REPEAT = 1000  # RE2's own limit for {n,m}
MAX_NESTING = 100  # nested groups

try:  # the binding behind the `re2` module; its API is not documented, so only used when it is as expected
    from re2 import _re2 as _binding

    _UNANCHORED: Any = _binding.RE2.Anchor.UNANCHORED
    _RAW: Any = _binding.RE2
except (ImportError, AttributeError):  # pragma: no cover - a google-re2 release without it
    _RAW = None


class PatternError(ValueError):
    """A pattern RE2 cannot run, or one past the limits; the message says why."""


def _options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False  # RE2 would also print each rejected pattern on stderr
    options.never_capture = True  # only whether it matches is asked
    return options


def _scan(pattern: str) -> str | None:
    """What is past the limits in `pattern`, scanning it once (escapes and character classes skipped)."""
    if len(pattern) > MAX_LENGTH:
        return f"the pattern is {len(pattern):,} characters long (at most {MAX_LENGTH:,})"
    depth = deepest = 0
    index, length = 0, len(pattern)
    in_class = False
    while index < length:
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("]", index + 1) or pattern.startswith("^]", index + 1):
                index += 2 if pattern[index + 1] == "]" else 3
                continue
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "{":
            close = pattern.find("}", index)
            if close > index:
                bounds = pattern[index + 1:close].split(",")
                if len(bounds) <= 2 and all(part.strip().isdigit() for part in bounds if part.strip()) and \
                        bounds[0].strip():
                    largest = max(int(part) for part in bounds if part.strip())
                    if largest > MAX_REPEAT:
                        return f"repeat count {largest} is above {MAX_REPEAT}"
        index += 1
    if deepest > MAX_NESTING:
        return f"groups nest {deepest} deep (at most {MAX_NESTING})"
    return None


def compile_search(pattern: str, case_sensitive: bool = False) -> Callable[[str], bool]:
    """A function telling whether `pattern` is found in a text (the text must already be folded when the
    pattern is not case-sensitive, see sync.rules.text). Raises PatternError."""
    problem = _scan(pattern)
    if problem is not None:
        raise PatternError(problem)
    options = _options(case_sensitive)
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        raise PatternError(f"not a pattern RE2 can run: {_reason(exc)}") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise PatternError(f"not a pattern RE2 can run: {exc}") from None
    if _RAW is not None:
        raw = _RAW(pattern.encode("utf-8"), options)
        if raw.ok():
            match, anchor = raw.Match, _UNANCHORED

            def found(text: str) -> bool:
                data = text.encode("utf-8", "replace")
                return match(anchor, data, 0, len(data))[0][0] >= 0
            return found
    search = compiled.search
    return lambda text: search(text) is not None


def _reason(error: Exception) -> str:
    text = str(error.args[0] if error.args else error)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    text = text.replace("\\\\", "\\")[:200] or "rejected"
    if text.startswith("invalid escape sequence: \\") and text[-1:].isdigit():
        return f"{text} (backreferences are not supported: RE2 matches in linear time)"
    if text.startswith("invalid perl operator: (?") and text[-1:] in "=!<":
        return f"{text} (look-ahead and look-behind are not supported: RE2 matches in linear time)"
    return text


def check_pattern(pattern: str, case_sensitive: bool = False) -> None:
    """Raise PatternError with the reason when `pattern` cannot be used in a rule."""
    compile_search(pattern, case_sensitive)


__all__ = ["MAX_LENGTH", "MAX_NESTING", "MAX_REPEAT", "PatternError", "check_pattern", "compile_search"]
