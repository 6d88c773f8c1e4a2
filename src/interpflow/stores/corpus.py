"""Corpora: local text files read as a stream of documents and cut into fixed token windows.

A corpus is the files its ``paths`` patterns match (sorted, each once), read in that order:

- ``.txt``: the whole file is one document (read in pieces of about ``PIECE_CHARS`` characters,
  cut after a whitespace, so a file larger than memory streams);
- ``.jsonl``: one document per line, the string in its ``text_field``;
- ``.parquet``: one document per row, the string in its ``text_field`` column (read by record batch).

**Windows.** Each document is tokenized without special tokens and followed by the tokenizer's
end-of-text token (EOS); the documents' tokens form one stream, cut into consecutive windows of
``context_size`` tokens. With ``prepend_bos`` each window is the tokenizer's BOS token (GPT-2:
``<|endoftext|>``) and the next ``context_size - 1`` tokens of the stream. A window may span a
document boundary (the EOS between them marks it, as in GPT-2's training data); the stream's last
tokens that do not fill a window are dropped. ``max_tokens`` caps the tokens in windows
(``max_tokens // context_size`` windows). Window ``w`` (0-based, in stream order) goes to shard
``w % n_shards``, so every shard is an even sample of the whole corpus.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from interpflow.stores.utf8 import NotUTF8, check_utf8, utf8_lines

PIECE_CHARS = 1 << 20
FORMATS = (".txt", ".jsonl", ".parquet")


class CorpusError(ValueError):
    """A corpus that cannot be read as configured; ``option`` is the corpus's config key at fault."""

    def __init__(self, option: str, problem: str):
        self.option = option
        super().__init__(problem)


@dataclass(frozen=True)
class Corpus:
    """One ``corpora.<name>`` entry with its files resolved."""

    name: str
    files: tuple[Path, ...]
    text_field: str
    context_size: int
    max_tokens: int | None
    n_shards: int
    prepend_bos: bool

    @classmethod
    def from_config(cls, name: str, entry: dict[str, Any], base_dir: str | Path = ".", files=None) -> Corpus:
        """The corpus of a config entry; ``files``, when given, are its files already resolved."""
        return cls(
            name=name,
            files=tuple(Path(path) for path in files)
            if files is not None
            else tuple(corpus_files(entry["paths"], base_dir)),
            text_field=entry["text_field"],
            context_size=entry["context_size"],
            max_tokens=entry["max_tokens"],
            n_shards=entry["n_shards"],
            prepend_bos=entry["prepend_bos"],
        )

    @property
    def max_windows(self) -> int | None:
        return None if self.max_tokens is None else self.max_tokens // self.context_size


def corpus_files(patterns: list[str], base_dir: str | Path = ".") -> list[Path]:
    """The files the glob ``patterns`` match (relative ones under ``base_dir``), sorted, each once."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(Path(base_dir) / pattern)
        matches = sorted(Path(path) for path in glob.glob(full, recursive=True) if Path(path).is_file())
        if not matches:
            raise CorpusError("paths", f"pattern {pattern!r} matches no file; fix the pattern or add the files")
        for path in matches:
            if path.suffix not in FORMATS:
                raise CorpusError("paths", f"{str(path)!r}: corpus files are {', '.join(FORMATS)}, not {path.suffix!r}")
            found[path] = None
    return list(found)


def _text_pieces(path: Path) -> Iterator[str]:
    """A text file in pieces of about :data:`PIECE_CHARS` characters, each cut after a whitespace."""
    carry = ""
    with open(path, encoding="utf-8") as handle:
        while chunk := _read_utf8(handle, path):
            text = carry + chunk
            cut = max(text.rfind(" "), text.rfind("\n"))
            if cut <= 0:
                carry = text
                continue
            yield text[:cut]
            carry = text[cut:]
    if carry:
        yield carry


def _read_utf8(handle, path: Path) -> str:
    """The next :data:`PIECE_CHARS` characters; a bad byte (a file changed since the start-up check)
    is a :class:`CorpusError` that names its line and byte."""
    try:
        return handle.read(PIECE_CHARS)
    except UnicodeDecodeError:
        try:
            check_utf8(path)
        except NotUTF8 as error:
            raise CorpusError("paths", str(error)) from None
        raise


def _missing_field(path: Path, where: str, field: str, found: list[str]) -> CorpusError:
    return CorpusError(
        "text_field",
        f"{str(path)!r}: {where} has no field {field!r} (it has: {', '.join(found) or 'none'}); "
        "set text_field to the field that holds the text",
    )


def _jsonl_text(path: Path, number: int, line: str, field: str) -> str:
    """The text of JSON line ``number`` of ``path``; :class:`CorpusError` where it has none."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise CorpusError("paths", f"{str(path)!r}: line {number} is not JSON ({error}); fix or remove it") from None
    if not isinstance(record, dict) or field not in record:
        raise _missing_field(path, f"line {number}", field, list(record) if isinstance(record, dict) else [])
    if not isinstance(record[field], str):
        raise CorpusError(
            "text_field",
            f"{str(path)!r}: line {number}: field {field!r} holds {json.dumps(record[field])[:40]}, not a string; "
            "give it the text or remove the line",
        )
    return record[field]


def _jsonl_documents(path: Path, field: str) -> Iterator[str]:
    try:
        for number, line in utf8_lines(path):
            if line.strip():
                yield _jsonl_text(path, number, line, field)
    except NotUTF8 as error:
        raise CorpusError("paths", str(error)) from None


def _parquet_documents(path: Path, field: str) -> Iterator[str]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    if field not in table.schema_arrow.names:
        raise _missing_field(path, "the table", field, table.schema_arrow.names)
    for batch in table.iter_batches(columns=[field], batch_size=1024):
        yield from (str(value) for value in batch.column(0).to_pylist() if value is not None)


def document_pieces(corpus: Corpus) -> Iterator[tuple[str, bool]]:
    """``(text, ends_document)`` for every piece of every document, in corpus order."""
    for path in corpus.files:
        if path.suffix == ".txt":
            yield from _mark_last(_text_pieces(path))
        elif path.suffix == ".jsonl":
            for document in _jsonl_documents(path, corpus.text_field):
                yield document, True
        else:
            for document in _parquet_documents(path, corpus.text_field):
                yield document, True


def _mark_last(pieces: Iterator[str]) -> Iterator[tuple[str, bool]]:
    previous = None
    for piece in pieces:
        if previous is not None:
            yield previous, False
        previous = piece
    if previous is not None:
        yield previous, True


def special_token_ids(tokenizer) -> tuple[int, int]:
    """``(bos, eos)`` ids: the tokenizer's own, its EOS standing in for a BOS it lacks."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no end-of-text token to separate documents")
    bos = tokenizer.bos_token_id
    return (eos if bos is None else bos), eos


def evaluation_special_ids(tokenizer) -> list[int]:
    """The ids the SAE evaluation leaves out of its means, wherever they stand in a window: the tokenizer's
    BOS, EOS and PAD ids (SAEBench's ``ignore_tokens``), sorted, each once."""
    ids = (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    return sorted({int(i) for i in ids if i is not None})


def token_stream(corpus: Corpus, tokenizer) -> Iterator[np.ndarray]:
    """The corpus's tokens in arrays of one piece each: every document followed by EOS."""
    _, eos = special_token_ids(tokenizer)
    for text, ends_document in document_pieces(corpus):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if ends_document:
            ids = [*ids, eos]
        yield np.asarray(ids, dtype=np.int32)


def windows(corpus: Corpus, tokenizer) -> Iterator[np.ndarray]:
    """The corpus's windows in stream order, each ``(context_size,)`` int32 (module docstring)."""
    bos, _ = special_token_ids(tokenizer)
    body = corpus.context_size - corpus.prepend_bos
    pending, held, made = [], 0, 0
    for ids in token_stream(corpus, tokenizer):
        pending.append(ids)
        held += len(ids)
        if held < body:
            continue
        joined = np.concatenate(pending)
        usable = len(joined) - len(joined) % body
        for start in range(0, usable, body):
            if corpus.max_windows is not None and made == corpus.max_windows:
                return
            window = joined[start : start + body]
            yield np.concatenate([[bos], window]).astype(np.int32) if corpus.prepend_bos else window
            made += 1
        pending, held = [joined[usable:]], len(joined) - usable


def check_file(path: Path, text_field: str) -> None:
    """Raise :class:`CorpusError` at the first thing in ``path`` that the corpus's jobs could not read.

    ``.txt``: every byte is UTF-8 (:mod:`interpflow.stores.utf8` names the line and byte). ``.jsonl``: every
    line too, and every non-blank line is a JSON object whose ``text_field`` is a string. ``.parquet``:
    the table has a string column ``text_field`` (Parquet's strings are UTF-8 by format). Reads the
    whole file, a line at a time: about 1 s per 100 MB of JSON lines on one core.
    """
    try:
        if path.suffix == ".parquet":
            _check_parquet_column(path, text_field)
            return
        for number, line in utf8_lines(path):
            if path.suffix == ".jsonl" and line.strip():
                _jsonl_text(path, number, line, text_field)
    except NotUTF8 as error:
        raise CorpusError("paths", str(error)) from None


def _check_parquet_column(path: Path, field: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if field not in schema.names:
        raise _missing_field(path, "the table", field, schema.names)
    kind = schema.field(field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise CorpusError("text_field", f"{str(path)!r}: column {field!r} holds {kind}, not text; name a string column")


def check_files(corpus: Corpus, checked: Path | None = None) -> None:
    """:func:`check_file` for every file of ``corpus``; with a ``checked`` folder, each version of a
    file (path, size, modification time, text field) is read once and then remembered there."""
    for path in corpus.files:
        record = None
        if checked is not None:
            stat = path.stat()
            record = {
                "path": str(path.resolve()),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "text_field": corpus.text_field,
            }
            remembered = checked / f"{hashlib.sha256(record['path'].encode()).hexdigest()[:24]}.json"
            if remembered.is_file() and remembered.read_text(encoding="utf-8") == json.dumps(record):
                continue
        check_file(path, corpus.text_field)
        if record is not None:
            from interpflow.runtime.atomic_io import write_text

            with contextlib.suppress(OSError):  # a folder this user cannot write: check again next time
                write_text(json.dumps(record), remembered)


def check_corpus(corpus: Corpus, tokenizer, checked: Path | None = None) -> None:
    """Raise :class:`CorpusError` unless every file reads to its end (:func:`check_files`) and the
    corpus gives at least one window per shard (tokenized only as far as ``n_shards`` windows)."""
    if corpus.max_windows is not None and corpus.max_windows < corpus.n_shards:
        raise CorpusError(
            "max_tokens",
            f"{corpus.max_tokens} tokens make {corpus.max_windows} windows of {corpus.context_size}, fewer than "
            f"one per shard (n_shards {corpus.n_shards}); raise max_tokens to at least "
            f"{corpus.n_shards * corpus.context_size} or lower n_shards",
        )
    check_files(corpus, checked)
    found = 0
    for _ in windows(corpus, tokenizer):
        found += 1
        if found == corpus.n_shards:
            return
    raise CorpusError(
        "n_shards",
        f"the corpus's {len(corpus.files)} file(s) give {found} window(s) of {corpus.context_size} tokens, "
        f"fewer than one per shard (n_shards {corpus.n_shards}); lower n_shards or context_size, or add text",
    )
