"""Sparse autoencoders: the lecture's k-sparse autoencoder trained on a text's store (``autoencoder``) and
the streaming trainer on a corpus store (``streaming``)."""
