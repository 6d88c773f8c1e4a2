"""Errors that carry the fix to the user."""


class ConfigError(ValueError):
    """A configuration problem; the message names the key and the fix."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"config key '{key}': {problem}")
