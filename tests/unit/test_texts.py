"""Text sets in every format, read against a hand-made expectation; problems named by option and row."""

import json

import pandas as pd
import pytest

from interpflow.stores.texts import TextSet, TextSetError, read_text_set
from tests.conftest import ROOT

ROWS = [
    {"text": "First, with a comma.", "group": "a"},
    {"text": 'Second "quoted" one.', "group": "b"},
    {"text": "NA", "group": "a"},  # a word, not a missing value
]
EXPECTED = TextSet([row["text"] for row in ROWS], [row["group"] for row in ROWS])


def write(path, rows):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    elif path.suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        pd.DataFrame(rows).to_csv(path, sep="\t" if path.suffix == ".tsv" else ",", index=False)
    return path


def test_txt_is_one_text_without_its_final_newline(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("A text.\nSecond line.\n")
    assert read_text_set(path) == TextSet(["A text.\nSecond line."])


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl", ".parquet"])
def test_tables_give_texts_and_groups_in_file_order(tmp_path, suffix):
    path = write(tmp_path / f"set{suffix}", ROWS)
    assert read_text_set(path, "text", "group") == EXPECTED
    assert read_text_set(path, "text") == TextSet(EXPECTED.texts)


def test_the_lecture_sentences():
    text_set = read_text_set(ROOT / "resources" / "texts" / "pronoun_sentences.tsv", "sentence", "group")
    assert len(text_set.texts) == 108 and text_set.groups.count("him") == 54
    assert text_set.texts[0] == "I saw him at the market." and text_set.texts[54] == "I saw her at the market."


def test_missing_column_and_empty_text_are_named(tmp_path):
    path = tmp_path / "set.tsv"
    path.write_text("sentence\tgroup\nHello.\ta\n\tb\n")
    with pytest.raises(TextSetError, match=r"has no column 'text' \(its columns: sentence, group\)") as caught:
        read_text_set(path, "text")
    assert caught.value.option == "text_column"
    with pytest.raises(TextSetError, match=r"row 2 \(line 3\) is empty; remove it or give it text"):
        read_text_set(path, "sentence")
    with pytest.raises(TextSetError, match="no column 'kind'") as caught:
        read_text_set(path, "sentence", "kind")
    assert caught.value.option == "group_column"


def test_a_record_without_the_text_field_is_a_missing_field_on_its_line(tmp_path):
    path = tmp_path / "set.jsonl"
    path.write_text('{"text": "One."}\n{"other": "Two."}\n')
    with pytest.raises(TextSetError, match=r"row 2 \(line 2\) has no field 'text' \(missing\)"):
        read_text_set(path)


@pytest.mark.parametrize(("content", "message"), [(b"", "only whitespace"), (b" \n\t\n", "only whitespace")])
def test_an_empty_txt_is_named(tmp_path, content, message):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(TextSetError, match=message):
        read_text_set(path)


def test_undecodable_and_unknown_files_are_named(tmp_path):
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Pálinka".encode("latin-1"))
    with pytest.raises(TextSetError, match=r"is not UTF-8: line 1, byte 2 of the line \(byte 2 of the file\)"):
        read_text_set(latin)
    with pytest.raises(TextSetError, match=r"expected one of \.txt, \.tsv"):
        read_text_set(tmp_path / "texts.docx")
    with pytest.raises(TextSetError, match="does not exist"):
        read_text_set(tmp_path / "absent.csv")


def test_a_bad_byte_deep_in_a_csv_is_named_by_its_line_and_byte(tmp_path):
    """pandas decodes in chunks, so its own offset is into a chunk; the message must give the file's."""
    rows = [f"sentence {number} is here,g".encode() for number in range(1, 40_001)]
    rows[29_999] = "café is open,g".encode("latin-1")  # data row 30000 is line 30001 (after the header)
    content = b"text,group\n" + b"\n".join(rows) + b"\n"
    path = tmp_path / "set.csv"
    path.write_bytes(content)
    offset = content.index(b"\xe9") + 1
    with pytest.raises(TextSetError) as caught:
        read_text_set(path, group_column="group")
    assert f"line 30001, byte 4 of the line (byte {offset} of the file)" in str(caught.value)
