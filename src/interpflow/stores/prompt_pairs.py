"""Prompt pairs: the stimuli of activation patching and the circuit methods, read and checked.

A pair is a row of the instance's text set (a table): the clean prompt (the text set's
``text_column``), a corrupted prompt of the same token length, the answer the clean prompt should
be completed with and a wrong answer (columns named by the instance's ``corrupted_column``,
``answer_column`` and ``wrong_answer_column``). Each answer is one token: ``answer_prefix`` (a space
by default, the word following the prompt) and the word. Every pair has the same token length, so a
position means the same slot of the template in every pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interpflow.stores.texts import read_table, row_name

ANSWER_OPTIONS = ("answer_column", "wrong_answer_column")


class PairError(ValueError):
    """Prompt pairs that cannot be patched; ``option`` is the instance option (or ``text``) to fix."""

    def __init__(self, option: str, problem: str):
        self.option = option
        super().__init__(problem)


@dataclass(frozen=True)
class PromptPairs:
    """The pairs of a text set, in file order (strings as written)."""

    clean: list[str]
    corrupted: list[str]
    answers: list[str]
    wrong_answers: list[str]


@dataclass(frozen=True)
class TokenizedPairs:
    """Token ids: ``clean`` and ``corrupted`` as ``(pairs, tokens)`` lists, one answer and wrong answer per pair."""

    clean: list[list[int]]
    corrupted: list[list[int]]
    answers: list[int]
    wrong_answers: list[int]

    @property
    def n_tokens(self) -> int:
        return len(self.clean[0])


def read_pairs(path: str | Path, text_column: str, instance: dict) -> PromptPairs:
    """The pairs of the table at ``path``; :class:`PairError` names a missing column or an empty cell."""
    path = Path(path)
    table = read_table(path)
    columns = {"text": text_column, **{option: instance[option] for option in ("corrupted_column", *ANSWER_OPTIONS)}}
    for option, column in columns.items():
        if column not in table.columns:
            raise PairError(option, f"{str(path)!r} has no column {column!r} (its columns: {', '.join(table.columns)})")
        for index, value in enumerate(table[column]):
            if value is None or value != value or not str(value).strip():
                raise PairError(option, f"{str(path)!r}: {row_name(path, index)} has an empty {column!r}")
    values = {option: [str(value) for value in table[column]] for option, column in columns.items()}
    return PromptPairs(
        values["text"], values["corrupted_column"], values["answer_column"], values["wrong_answer_column"]
    )


def tokenize_pairs(pairs: PromptPairs, tokenizer, answer_prefix: str, path: str | Path) -> TokenizedPairs:
    """Token ids of every pair, as the extraction tokenizes texts; :class:`PairError` names the first row
    whose prompts differ in length from each other or from the first pair, or whose answer is not one token."""
    path = Path(path)
    clean = tokenizer(pairs.clean)["input_ids"]
    corrupted = tokenizer(pairs.corrupted)["input_ids"]
    for index, (clean_ids, corrupted_ids) in enumerate(zip(clean, corrupted, strict=True)):
        where = f"{str(path)!r}: {row_name(path, index)}"
        if len(clean_ids) != len(corrupted_ids):
            raise PairError(
                "corrupted_column",
                f"{where}: the clean prompt has {len(clean_ids)} tokens and the corrupted one {len(corrupted_ids)}; "
                "a pair's prompts must have the same token length (reword one of them)",
            )
        if len(clean_ids) != len(clean[0]):
            raise PairError(
                "text",
                f"{where}: its prompts have {len(clean_ids)} tokens but the first pair's have {len(clean[0])}; "
                "every pair needs the same token length, so that a position is the same slot in every pair "
                "(reword it)",
            )
    answers = {}
    for option, words in (("answer_column", pairs.answers), ("wrong_answer_column", pairs.wrong_answers)):
        answers[option] = []
        for index, word in enumerate(words):
            ids = tokenizer.encode(answer_prefix + word, add_special_tokens=False)
            if len(ids) != 1:
                raise PairError(
                    option,
                    f"{str(path)!r}: {row_name(path, index)}: {answer_prefix + word!r} is {len(ids)} tokens, not one "
                    "(choose a one-token answer, or set answer_prefix)",
                )
            answers[option].append(ids[0])
    return TokenizedPairs(clean, corrupted, answers["answer_column"], answers["wrong_answer_column"])


def resolve_positions(positions: str | list[int], n_tokens: int) -> list[int]:
    """The patched positions (``all``, or a list where ``-1`` is the last token), each once, in order;
    :class:`PairError` for a position outside the prompts."""
    if positions == "all":
        return list(range(n_tokens))
    resolved = []
    for index, position in enumerate(positions):
        if not -n_tokens <= position < n_tokens:
            raise PairError(
                f"positions[{index}]",
                f"position {position} is outside prompts of {n_tokens} tokens (0..{n_tokens - 1}, or -{n_tokens}..-1)",
            )
        resolved.append(position % n_tokens)
    return sorted(set(resolved))
