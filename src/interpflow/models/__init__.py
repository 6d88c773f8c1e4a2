"""Models: the site vocabulary (``sites``), one adapter per family (``architectures``), hooks that
read and write sites (``hooks``), loading and provisioning (``loading``, ``hub_cache``,
``vendored_tokenizer``), the compute device (``devices``) and layer names (``layers``)."""
