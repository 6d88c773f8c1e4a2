"""What the circuit methods share: their model stage's inputs (pair_stage), the pair checks, the clean
prompts read back from the store, and the tables and heatmaps of patching scores, whether a patch was run
(activation patching) or estimated from gradients (attribution patching)."""
