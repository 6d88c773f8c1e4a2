"""Stores: text sets (``texts``) and corpora (``corpus``), the activation store of a text set
(``activation_store``, written by ``extraction``) and the sharded store of a corpus (``corpus_store``,
``tensor_stream``, written by ``shard_extraction``), and word matching on stored tokens
(``word_categories``)."""
