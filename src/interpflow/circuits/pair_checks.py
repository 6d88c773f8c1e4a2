"""The start-up check every circuit method makes of its text set: prompt pairs it can read."""

from __future__ import annotations


def check_pair_text(instance: dict, key: str, tokenized, positions: bool = False) -> None:
    """The instance's text set holds prompt pairs of one token length with one-token answers (and, with
    ``positions``, the instance's ``positions`` exist in them); else a ``ConfigError`` naming the option."""
    from interpflow.runtime.errors import ConfigError
    from interpflow.stores import prompt_pairs

    text = instance["text"]
    path = tokenized.path(text)
    try:
        pairs = prompt_pairs.read_pairs(path, tokenized.config["texts"][text]["text_column"], instance)
        tokens = prompt_pairs.tokenize_pairs(pairs, tokenized.tokenizer, instance["answer_prefix"], path)
        if positions:
            prompt_pairs.resolve_positions(instance["positions"], tokens.n_tokens)
    except prompt_pairs.PairError as error:
        option = f"texts.{text}" if error.option == "text" else f"{key}.{error.option}"
        raise ConfigError(option, str(error)) from None
