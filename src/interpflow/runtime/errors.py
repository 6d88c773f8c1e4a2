"""Errors that carry the fix to the user."""


class ConfigError(ValueError):
    """A configuration problem; the message names the key and the fix."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"config key '{key}': {problem}")


def leading_space_hint(word: str) -> str:
    """A hint for a target word given without the leading space it has inside a text ('' when it has one)."""
    if word.startswith(" "):
        return ""
    return f"; words inside a text carry their leading space: write {' ' + word!r}, not {word!r}"
