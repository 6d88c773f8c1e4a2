"""The workflow sees which package modules each script imports (transitively)."""

from interpflow.runtime.code_dependencies import imported_package_files, package_module_files
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


def test_an_edited_file_is_read_again(tmp_path):
    """Each file is parsed once per version: an import added later (a new size and time) is seen."""
    pkg = tmp_path / "src" / "demo"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "leaf.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("import demo\n")
    assert len(imported_package_files(script, tmp_path / "src", "demo")) == 1
    script.write_text("import demo\nimport demo.leaf\n")
    assert len(imported_package_files(script, tmp_path / "src", "demo")) == 2


def test_extraction_depends_on_hooks_but_not_on_methods():
    files = names(imported_package_files(ROOT / "scripts" / "extract_activations.py", SRC))
    assert {
        "interpflow/models/hooks.py",
        "interpflow/stores/extraction.py",
        "interpflow/models/loading.py",
        "interpflow/models/sites.py",
    } <= files
    assert not any(name.startswith("interpflow/methods/") or "plotting" in name for name in files)


def test_statistics_depend_on_their_analysis_only():
    files = names(imported_package_files(ROOT / "scripts" / "residual_decomposition_statistics.py", SRC))
    assert "interpflow/methods/residual_decomposition/analysis.py" in files
    assert "interpflow/models/hooks.py" not in files and "interpflow/models/loading.py" not in files
    others = {name for name in files if name.startswith("interpflow/methods/") and "residual_decomposition" not in name}
    assert others <= {"interpflow/methods/__init__.py", "interpflow/methods/contract.py"}, "and on no other method"


def test_sae_training_does_not_load_the_model_code():
    """SAE training needs torch, not transformers: importing the model code would cost seconds per run."""
    files = names(imported_package_files(ROOT / "scripts" / "sparse_autoencoder_train.py", SRC))
    assert {
        "interpflow/sae/core/training.py",
        "interpflow/sae/core/tied_ksparse.py",
        "interpflow/models/devices.py",
    } <= files
    assert "interpflow/models/loading.py" not in files


def test_a_module_loaded_by_name_brings_its_packages_and_imports():
    """The generic comparison script loads ``interpflow.methods.<method>.comparison`` by name: its job
    depends on that module, the packages above it and what it imports, and on no other method."""
    files = names(package_module_files(["interpflow.methods.residual_decomposition.comparison"], SRC))
    assert {
        "interpflow/__init__.py",
        "interpflow/methods/__init__.py",
        "interpflow/methods/residual_decomposition/__init__.py",
        "interpflow/methods/residual_decomposition/comparison.py",
        "interpflow/runtime/comparison.py",
        "interpflow/plotting/comparison.py",
    } <= files
    others = {name for name in files if name.startswith("interpflow/methods/") and "residual_decomposition" not in name}
    assert others <= {"interpflow/methods/__init__.py", "interpflow/methods/contract.py"}
