"""What the circuit methods share: the tables and heatmaps of patching scores, whether a patch was run
(activation patching) or estimated from gradients (attribution patching)."""
