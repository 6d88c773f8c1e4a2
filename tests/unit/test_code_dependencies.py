"""The workflow sees which package modules each script imports (transitively)."""

from interpflow.code_dependencies import imported_package_files
from tests.conftest import ROOT

SRC = ROOT / "src"


def names(files):
    return {str(path.relative_to(SRC)) for path in files}


def test_transitive_imports_and_package_inits(tmp_path):
    pkg = tmp_path / "src" / "demo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text("import os\n")
    (pkg / "middle.py").write_text("from demo.sub import leaf\n")
    (pkg / "unused.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("import numpy\nfrom demo.middle import thing\n")
    found = {str(p.relative_to(tmp_path / "src")) for p in imported_package_files(script, tmp_path / "src", "demo")}
    assert found == {"demo/__init__.py", "demo/middle.py", "demo/sub/__init__.py", "demo/sub/leaf.py"}


def test_extraction_depends_on_hooks_but_not_on_methods():
    files = names(imported_package_files(ROOT / "scripts" / "extract_activations.py", SRC))
    assert {"interpflow/hooks.py", "interpflow/extraction.py", "interpflow/models.py", "interpflow/sites.py"} <= files
    assert not any(name.startswith("interpflow/methods/") or "plotting" in name for name in files)


def test_statistics_depend_on_their_analysis_only():
    files = names(imported_package_files(ROOT / "scripts" / "residual_decomposition_statistics.py", SRC))
    assert "interpflow/methods/residual_decomposition.py" in files
    assert "interpflow/hooks.py" not in files and "interpflow/models.py" not in files


def test_sae_training_does_not_load_the_model_code():
    """SAE training needs torch, not transformers: importing the model code would cost seconds per run."""
    files = names(imported_package_files(ROOT / "scripts" / "sparse_autoencoder_train.py", SRC))
    assert {"interpflow/sae.py", "interpflow/devices.py"} <= files
    assert "interpflow/models.py" not in files
