"""The config checks' tokenizer gives the same ids and pieces as transformers' GPT-2 tokenizer."""

from transformers import GPT2Tokenizer

from interpflow.models.vendored_tokenizer import VendoredTokenizer
from interpflow.stores.texts import read_text_set
from tests.conftest import ROOT

FOLDER = ROOT / "resources" / "gpt2-tokenizer"


def test_same_ids_as_transformers_on_every_text_and_word():
    ours, reference = VendoredTokenizer(FOLDER), GPT2Tokenizer.from_pretrained(str(FOLDER))
    texts = []
    for path in sorted((ROOT / "resources" / "texts").glob("*.txt")):
        texts += read_text_set(path).texts
    texts += read_text_set(ROOT / "resources" / "texts" / "pronoun_sentences.tsv", "sentence").texts
    texts += [" coffee", " him", " her", " Hungary", "naïve café — 1937\n\ttabs", "  two spaces"]
    assert ours(texts)["input_ids"] == reference(texts)["input_ids"]
    for text in texts[-6:]:
        ids = ours.encode(text)
        assert ids == reference.encode(text)
        assert [ours.decode([i]) for i in ids] == [reference.decode([i]) for i in ids]
