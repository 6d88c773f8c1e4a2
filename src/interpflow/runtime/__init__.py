"""What every stage runs on: atomic writes (``atomic_io``), output locks, stage logging and progress,
provenance and model records, the configuration schema and its defaults (``schema``), the code a
script depends on (``code_dependencies``), config errors, and runs side by side (``comparison``)."""
