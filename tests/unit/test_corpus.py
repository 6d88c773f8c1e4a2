"""Corpora: files, documents, windows and shards, against tokenizing the whole stream at once."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from interpflow.models.vendored_tokenizer import VendoredTokenizer
from interpflow.stores import corpus as corpus_module
from interpflow.stores.corpus import Corpus, CorpusError, check_corpus, corpus_files, windows
from tests.conftest import ROOT, TOKENIZER_DIR

EOS = 50256
DOCUMENTS = ["The first document is short.", "A second one, a little longer, with more words in it.", "Third."]


@pytest.fixture(scope="module")
def tokenizer():
    return VendoredTokenizer(TOKENIZER_DIR)


def make_corpus(files, **options) -> Corpus:
    values = {"text_field": "text", "context_size": 8, "max_tokens": None, "n_shards": 2, "prepend_bos": True}
    return Corpus("test", tuple(files), **{**values, **options})


def write_jsonl(path, texts, field="text"):
    path.write_text("".join(json.dumps({field: text}) + "\n" for text in texts), encoding="utf-8")
    return path


def expected_windows(tokenizer, documents, context_size, prepend_bos, max_tokens=None):
    """The policy written out: documents + EOS joined, cut into windows, BOS first, tail dropped."""
    stream = [token for document in documents for token in [*tokenizer.encode(document), EOS]]
    body = context_size - prepend_bos
    cut = [stream[start : start + body] for start in range(0, len(stream) - body + 1, body)]
    result = [[EOS, *window] if prepend_bos else window for window in cut]
    return result if max_tokens is None else result[: max_tokens // context_size]


@pytest.mark.parametrize("prepend_bos", [True, False])
@pytest.mark.parametrize("max_tokens", [None, 24])
def test_windows_follow_the_documented_policy(tmp_path, tokenizer, prepend_bos, max_tokens):
    corpus = make_corpus([write_jsonl(tmp_path / "a.jsonl", DOCUMENTS)], prepend_bos=prepend_bos, max_tokens=max_tokens)
    found = [window.tolist() for window in windows(corpus, tokenizer)]
    assert found == expected_windows(tokenizer, DOCUMENTS, 8, prepend_bos, max_tokens)
    assert all(len(window) == 8 for window in found)


def test_every_format_gives_the_same_windows(tmp_path, tokenizer):
    (tmp_path / "txt").mkdir()
    for index, text in enumerate(DOCUMENTS):
        (tmp_path / "txt" / f"{index}.txt").write_text(text, encoding="utf-8")
    pd.DataFrame({"body": DOCUMENTS}).to_parquet(tmp_path / "docs.parquet")
    txt = make_corpus(corpus_files(["txt/*.txt"], tmp_path))
    jsonl = make_corpus([write_jsonl(tmp_path / "docs.jsonl", DOCUMENTS)])
    parquet = make_corpus([tmp_path / "docs.parquet"], text_field="body")
    results = [[window.tolist() for window in windows(c, tokenizer)] for c in (txt, jsonl, parquet)]
    assert results[0] == results[1] == results[2] == expected_windows(tokenizer, DOCUMENTS, 8, True)


def test_a_text_file_streams_in_pieces_with_the_tokens_of_the_whole(tmp_path, tokenizer, monkeypatch):
    text = (ROOT / "resources" / "texts" / "palinka.txt").read_text(encoding="utf-8") * 3
    (tmp_path / "long.txt").write_text(text, encoding="utf-8")
    monkeypatch.setattr(corpus_module, "PIECE_CHARS", 40)
    pieces = list(corpus_module._text_pieces(tmp_path / "long.txt"))
    assert len(pieces) > 50 and "".join(pieces) == text
    found = [window.tolist() for window in windows(make_corpus([tmp_path / "long.txt"]), tokenizer)]
    assert found == expected_windows(tokenizer, [text], 8, True)


def test_files_are_sorted_and_each_read_once(tmp_path):
    for name in ("b.txt", "a.txt", "c.jsonl"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    files = corpus_files(["*.txt", "a.txt", "*.jsonl"], tmp_path)
    assert [path.name for path in files] == ["a.txt", "b.txt", "c.jsonl"]


@pytest.mark.parametrize(
    ("setup", "option", "fragment"),
    [
        (lambda d: None, "paths", "matches no file"),
        (lambda d: (d / "x.csv").write_text("text\na\n"), "paths", "corpus files are"),
        (
            lambda d: write_jsonl(d / "x.jsonl", ["a"], field="body"),
            "text_field",
            r"has no field 'text' \(it has: body\)",
        ),
        (lambda d: (d / "x.jsonl").write_text("{not json\n"), "paths", "line 1 is not JSON"),
        (lambda d: pd.DataFrame({"body": ["a"]}).to_parquet(d / "x.parquet"), "text_field", "has no field 'text'"),
    ],
)
def test_bad_files_name_the_option_and_the_fix(tmp_path, tokenizer, setup, option, fragment):
    setup(tmp_path)
    with pytest.raises(CorpusError, match=fragment) as raised:
        check_corpus(make_corpus(corpus_files(["x.*"], tmp_path)), tokenizer)
    assert raised.value.option == option


def test_a_later_file_without_the_text_field_stops_the_check_too(tmp_path, tokenizer):
    enough = write_jsonl(tmp_path / "a.jsonl", DOCUMENTS * 10)  # windows enough for every shard
    late = write_jsonl(tmp_path / "b.jsonl", DOCUMENTS, field="body")
    with pytest.raises(CorpusError, match="b.jsonl") as raised:
        check_corpus(make_corpus([enough, late]), tokenizer)
    assert raised.value.option == "text_field"


def test_too_few_tokens_for_the_shards_stops_reading_early(tmp_path, tokenizer):
    corpus = make_corpus([write_jsonl(tmp_path / "a.jsonl", DOCUMENTS)], n_shards=5)
    with pytest.raises(CorpusError, match="fewer than one per shard") as raised:
        check_corpus(corpus, tokenizer)
    assert raised.value.option == "n_shards"
    check_corpus(make_corpus(corpus.files, n_shards=len(expected_windows(tokenizer, DOCUMENTS, 8, True))), tokenizer)
    with pytest.raises(CorpusError, match="raise max_tokens to at least 16") as raised:
        check_corpus(make_corpus(corpus.files, max_tokens=15), tokenizer)
    assert raised.value.option == "max_tokens"


def test_windows_are_int32_arrays(tmp_path, tokenizer):
    window = next(windows(make_corpus([write_jsonl(tmp_path / "a.jsonl", DOCUMENTS)]), tokenizer))
    assert isinstance(window, np.ndarray) and window.dtype == np.int32


LATE_PROBLEMS = {
    # case -> (what line 41 of a.jsonl holds, the option named, the message's words)
    "not JSON": (b'{"text": "cut off', "paths", "line 41 is not JSON"),
    "no text field": (b'{"body": "x"}', "text_field", r"line 41 has no field 'text' \(it has: body\)"),
    "null text": (b'{"text": null}', "text_field", "line 41: field 'text' holds null, not a string"),
    "not UTF-8": (
        '{"text": "caf\xe9"}'.encode("latin-1"),
        "paths",
        r"not UTF-8: line 41, byte 14 of the line \(byte \d+ of the file\)",
    ),
}


@pytest.mark.parametrize("case", list(LATE_PROBLEMS))
def test_every_line_is_checked_not_only_the_first(tmp_path, tokenizer, case):
    """Line 41 lies past the windows the shards need, so only a check of every line finds it."""
    line, option, fragment = LATE_PROBLEMS[case]
    path = write_jsonl(tmp_path / "a.jsonl", DOCUMENTS * 20)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[40] = line + b"\n"
    path.write_bytes(b"".join(lines))
    with pytest.raises(CorpusError, match=fragment) as raised:
        check_corpus(make_corpus([path]), tokenizer)
    assert raised.value.option == option


def test_a_bad_byte_in_a_text_file_is_named_in_the_job_too(tmp_path, tokenizer):
    """The jobs' own reader (here a file changed after the start-up check) names the line and byte."""
    path = tmp_path / "a.txt"
    path.write_bytes(b"One line.\nTwo lines, then caf\xe9.\n")
    with pytest.raises(CorpusError, match=r"line 2, byte 20 of the line \(byte 30 of the file\)"):
        list(windows(make_corpus([path]), tokenizer))


def test_a_file_read_to_its_end_once_is_remembered_until_it_changes(tmp_path, tokenizer, monkeypatch):
    from interpflow.stores import corpus as corpus_module

    path = write_jsonl(tmp_path / "a.jsonl", DOCUMENTS * 20)
    read = []
    real_check_file = corpus_module.check_file
    monkeypatch.setattr(corpus_module, "check_file", lambda *args: (read.append(args[0]), real_check_file(*args)))
    checked = tmp_path / "checked"
    check_corpus(make_corpus([path]), tokenizer, checked)
    check_corpus(make_corpus([path]), tokenizer, checked)
    assert read == [path]  # the second start-up did not read it again
    path.write_bytes(path.read_bytes() + b"{broken\n")
    with pytest.raises(CorpusError, match="is not JSON"):
        check_corpus(make_corpus([path]), tokenizer, checked)
    assert read == [path, path]
