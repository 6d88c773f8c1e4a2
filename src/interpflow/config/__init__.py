"""Validate a workflow configuration before any job is scheduled, and complete it with the defaults.

:func:`validate_config` (:mod:`~interpflow.config.validation`) runs the steps in order; each concern is a module
of its own:

- :mod:`~interpflow.config.loading`: the merged config in one form (duplicate keys, command-line strings,
  instances removed with ``null``, canonical key order);
- :mod:`~interpflow.config.schema_checks`: the JSON schema, with every default filled in;
- :mod:`~interpflow.config.sweeps`: an instance whose ``sae`` options give lists, one instance per point;
- :mod:`~interpflow.config.pretrained_saes`: instances that read a pretrained SAE;
- :mod:`~interpflow.config.references`: what a schema cannot check (files, names, layers, texts, corpora);
- :mod:`~interpflow.config.model_folders`: what a configured model's folder says, without torch.

Every problem raises :class:`ConfigError` with one message that names the key and the fix.
"""

from interpflow.config.loading import check_unique_keys, instances
from interpflow.config.model_folders import check_model_folder
from interpflow.config.schema_checks import DefaultFillingValidator, load_schema
from interpflow.config.sweeps import config_as_given
from interpflow.config.validation import validate_config
from interpflow.runtime.errors import ConfigError

__all__ = [
    "ConfigError",
    "DefaultFillingValidator",
    "check_model_folder",
    "check_unique_keys",
    "config_as_given",
    "instances",
    "load_schema",
    "validate_config",
]
