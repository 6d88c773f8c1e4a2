"""logit_lens: what the residual stream already predicts at every layer, read through the final norm and unembedding."""
