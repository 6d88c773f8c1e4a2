"""Reading a file as UTF-8 lines, with a bad byte located as an editor shows it (line and byte, from 1).

Python's own error gives a byte offset into whatever buffer the reader decoded (pandas reads in
chunks, so its offset is not the file's); here every line is decoded on its own, so the line number,
the byte within the line and the byte within the file are exact. Lines are split at ``\\n`` bytes,
which never occur inside a multi-byte UTF-8 character.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path


class NotUTF8(ValueError):
    """A byte sequence that is not UTF-8: where it is (1-based line and byte) and why."""

    def __init__(self, path: Path, line: int, byte_in_line: int, byte_in_file: int, reason: str):
        self.path, self.line, self.byte_in_line, self.byte_in_file = path, line, byte_in_line, byte_in_file
        super().__init__(
            f"{str(path)!r} is not UTF-8: line {line}, byte {byte_in_line} of the line (byte {byte_in_file} of the "
            f"file): {reason}; re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        )


def utf8_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line number from 1, line)`` for every line of ``path``, each with its newline; raises
    :class:`NotUTF8` at the first byte that is not UTF-8."""
    path = Path(path)
    start = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise NotUTF8(path, number, error.start + 1, start + error.start + 1, error.reason) from None
            start += len(raw)


def check_utf8(path: str | Path) -> None:
    """Raise :class:`NotUTF8` unless the whole of ``path`` is UTF-8 (read a line at a time)."""
    for _ in utf8_lines(path):
        pass
