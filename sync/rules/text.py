"""Text compared the way an admin expects: without case and without accents, in French as in English.

"Étudiante" is `etudiante`, "Directeur des systèmes d’information" is
`directeur des systemes d'information` (the typographic apostrophe CRMs and
word processors insert becomes a plain one), "Gérant" is `gerant`. Rules and
contact data both go through `fold`, so a rule written with or without accents
matches a value written either way.

Latin letters with diacritics, the ligatures (œ, æ, ß), typographic quotes,
dashes and non-breaking spaces are mapped by one `str.translate` table built
from Unicode's own decompositions; anything else non-ASCII is decomposed (NFKD)
and its combining marks dropped. ASCII text, most of what CRMs hold, is only
lowered.
"""

from __future__ import annotations

import unicodedata

_EXTRA = {
    "ß": "ss", "ẞ": "ss", "Œ": "oe", "œ": "oe", "Æ": "ae", "æ": "ae", "Ø": "o", "ø": "o", "Đ": "d", "đ": "d",
    "Ł": "l", "ł": "l", "ı": "i", "Þ": "th", "þ": "th", "Ð": "d", "ð": "d",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ",
}


def _strip_marks(text: str) -> str:
    return "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))


def _table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):  # Latin-1 Supplement, Latin Extended-A and -B
        stripped = _strip_marks(chr(code))
        if stripped != chr(code) and stripped.isascii() and stripped:
            table[code] = stripped
    for char, replacement in _EXTRA.items():
        table[ord(char)] = replacement
    return table


_TABLE = _table()


def fold(text: str) -> str:
    """`text` without case and accents, for comparisons."""
    if text.isascii():
        return text.lower()
    text = text.translate(_TABLE)
    if not text.isascii():
        text = _strip_marks(text)
    return text.casefold()


def fold_pattern(pattern: str) -> str:
    """A regular expression's literal characters folded like the text it is matched against; escapes
    (`\\d`, `\\W`, `\\p{Greek}`...) are left as they are, since folding would change their meaning."""
    out: list[str] = []
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\" and index + 1 < length:
            end = index + 2
            if pattern[index + 1] in "pP" and end < length and pattern[end] == "{":
                close = pattern.find("}", end)
                end = close + 1 if close >= 0 else length
            out.append(pattern[index:end])
            index = end
            continue
        out.append(fold(char))
        index += 1
    return "".join(out)


__all__ = ["fold", "fold_pattern"]
