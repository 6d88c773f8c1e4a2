"""SAEs in and out of interpflow, in the formats the field's tools read.

Out:

- :mod:`~interpflow.sae.interop.saelens`: a saved SAE as a SAELens folder (``cfg.json``,
  ``sae_weights.safetensors``, ``sparsity.safetensors``);
- :mod:`~interpflow.sae.interop.neuronpedia`: latents in the JSON layout SAEDashboard writes for Neuronpedia.

In (pretrained SAEs read as inputs):

- :mod:`~interpflow.sae.interop.pretrained_formats`: what a SAELens or sparsify folder says (light, no torch);
- :mod:`~interpflow.sae.interop.pretrained`: the module that reads interpflow's activations as the SAE was
  trained;
- :mod:`~interpflow.sae.interop.pretrained_entries`: the config's ``saes`` entries and their provisioning.
"""
