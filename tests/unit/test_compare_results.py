"""tools/compare_results.py: renamed and rescaled table columns compare at atol 0, differences are found."""

import importlib.util

import pandas as pd

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("compare_results", ROOT / "tools" / "compare_results.py")
compare_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_results)


def write_run(folder, table):
    path = folder / "sparse_autoencoder" / "a" / "m" / "latents.parquet"
    path.parent.mkdir(parents=True)
    table.to_parquet(path)
    return folder


def test_renamed_rescaled_and_shifted_columns_compare_exactly(tmp_path, capsys):
    fraction = pd.Series([0.0, 1 / 3, 0.7])
    old = write_run(tmp_path / "old", pd.DataFrame({"epoch": [0, 1, 2], "density_pct": 100 * fraction}))
    new = write_run(tmp_path / "new", pd.DataFrame({"step": [1, 2, 3], "density": fraction, "l0": 1.0}))
    renames = ["--rename-column", "sparse_autoencoder/*:density_pct=density*100", "--rename-column", "epoch=step+-1"]
    assert compare_results.main([str(old), str(new), "--atol", "0", *renames]) == 0
    assert "1 of 1 files agree within 0" in capsys.readouterr().out
    assert compare_results.main([str(old), str(new), "--atol", "0", *renames[:2], "--rename-column", "epoch=step"]) == 1
    assert "DIFFERS" in capsys.readouterr().out
    elsewhere = ["--rename-column", "other/*:density_pct=density*100", "--rename-column", "epoch=step+-1"]
    assert compare_results.main([str(old), str(new), "--atol", "0", *elsewhere]) == 1
    assert "columns missing in the new table: ['density_pct']" in capsys.readouterr().out
