"""Text forms shared by the importer, the patient search and the reports (no dependencies)."""


def fold(text: str) -> str:
    """Case- and ё-insensitive form for searching and matching (SQLite's lower() ignores Cyrillic)."""
    return " ".join(text.casefold().replace("ё", "е").split())


# What a terminal would act on rather than show, in text that came from outside (an export, a note,
# a comment): control characters (C0 but the line break and the tab, DEL, C1: ESC starts the escape
# sequences that move the cursor, recolour or retitle the window, and C1's CSI does the same in one
# character), the bidirectional overrides and isolates that reorder what is shown, and the
# zero-width and line-separator characters that hide or split text.
_UNSEEN = ("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_UNSEEN_BYTES = (rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8b-\x8f\xa8-\xae]"
                 rb"|\xe2\x81[\xa0-\xa9]|\xef\xbb\xbf")
_seen = None


def visible(text):
    """Text safe to show on a terminal (or in a document): every character of _UNSEEN written as its
    code, ``\\u001b``, so that nothing in it acts on the terminal and nothing hides. The line
    break and the tab stay. Applied to JSON it keeps the data exact: a JSON string reads ``\\u001b``
    as the character itself (and JSON has no raw control characters to begin with). Bytes (UTF-8)
    in, bytes out; the common case, nothing to change, is one scan."""
    global _seen
    import re

    if _seen is None:
        _seen = (re.compile(_UNSEEN), re.compile(_UNSEEN_BYTES))
    if isinstance(text, bytes):
        if _seen[1].search(text) is None:
            return text
        return visible(text.decode("utf-8", "replace")).encode("utf-8")
    if _seen[0].search(text) is None:
        return text
    return _seen[0].sub(lambda m: f"\\u{ord(m.group()):04x}", text)
