"""Text forms shared by the importer, the patient search and the reports (no dependencies)."""


def fold(text: str) -> str:
    """Case- and ё-insensitive form for searching and matching (SQLite's lower() ignores Cyrillic)."""
    return " ".join(text.casefold().replace("ё", "е").split())
