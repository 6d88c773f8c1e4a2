"""activation_patching: which activations carry what decides the answer, patched clean into corrupted runs."""
