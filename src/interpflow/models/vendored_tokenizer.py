"""The vendored GPT-2 tokenizer through the ``tokenizers`` library, for checking the config.

The Snakefile validates the config every time snakemake starts; importing transformers for its
tokenizer would add ~1.5 s to each start. ``tokenizers`` reads the same ``vocab.json`` and
``merges.txt`` and gives the same ids (tests/unit/test_vendored_tokenizer.py). Models keep the
transformers tokenizer (interpflow.models).
"""

from __future__ import annotations

from pathlib import Path

from tokenizers.implementations import ByteLevelBPETokenizer


class VendoredTokenizer:
    """GPT-2 byte-level BPE: ``encode``/``decode`` one text, or call on a list like a transformers tokenizer."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        self._bpe = ByteLevelBPETokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        """Token ids of ``text`` (GPT-2 adds no special tokens either way)."""
        return self._bpe.encode(text).ids

    @property
    def eos_token_id(self) -> int:
        return self._bpe.token_to_id("<|endoftext|>")

    bos_token_id = eos_token_id

    def decode(self, ids: list[int]) -> str:
        return self._bpe.decode(ids)

    def __call__(self, texts: list[str]) -> dict[str, list[list[int]]]:
        return {"input_ids": [encoding.ids for encoding in self._bpe.encode_batch(texts)]}
