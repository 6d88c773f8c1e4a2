import pytest

from interpflow.texts import read_text_set
from tests.conftest import ROOT


def test_txt_is_one_text_without_its_final_newline(tmp_path):
    path = tmp_path / "one.txt"
    path.write_text("A text.\nSecond line.\n")
    assert read_text_set(path) == ["A text.\nSecond line."]


def test_tsv_rows_in_file_order():
    texts = read_text_set(ROOT / "resources" / "texts" / "pronoun_sentences.tsv", "sentence")
    assert len(texts) == 108
    assert texts[0] == "I saw him at the market." and texts[54] == "I saw her at the market."


def test_missing_column_and_empty_text_are_named(tmp_path):
    path = tmp_path / "set.tsv"
    path.write_text("sentence\tgroup\nHello.\ta\n\tb\n")
    with pytest.raises(ValueError, match="no column 'text'"):
        read_text_set(path, "text")
    with pytest.raises(ValueError, match="text 1 is empty"):
        read_text_set(path, "sentence")
