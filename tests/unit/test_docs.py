"""The documentation: the site builds strictly, the configuration reference is the schema's, the README is short."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import config_reference  # noqa: E402

from interpflow.config import load_schema  # noqa: E402


def test_the_site_builds_strictly(tmp_path):
    """Broken links, pages missing from the navigation and unknown anchors are errors (mkdocs.yml)."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "configuration-reference" / "index.html").is_file()


def test_a_broken_link_fails_the_strict_build(tmp_path):
    """The check above can fail: the same site with one link to a page that does not exist."""
    docs = tmp_path / "docs"
    subprocess.run(["cp", "-r", str(ROOT / "docs"), str(docs)], check=True)
    (docs / "index.md").write_text((docs / "index.md").read_text() + "\n[gone](no-such-page.md)\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["docs_dir"] = str(docs)
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(tmp_path / "mkdocs.yml"),
            "-d",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "no-such-page.md" in result.stderr


def test_the_configuration_reference_is_generated_from_the_schema():
    schema = load_schema()
    expected = config_reference.render(schema)
    assert config_reference.PAGE.read_text(encoding="utf-8") == expected, (
        "docs/configuration-reference.md is stale: run .venv/bin/python tools/config_reference.py"
    )
    assert config_reference.undescribed(schema) == [], "give every option a description in the schema"


def test_the_reference_shows_every_option_with_its_default():
    page = config_reference.PAGE.read_text(encoding="utf-8")
    # streaming_sae's (a list sweeps it)
    assert "| `sae.learning_rate` | number > 0 or list of number > 0 | `0.0004` | Adam's learning rate |" in page
    assert "| `tsne.perplexity` | number > 0 | `30` | t-SNE perplexity |" in page
    assert "| `groups` | list of mapping | required |" in page
    for method in config_reference.METHODS:
        assert f"## Method: {method}" in page


def test_an_option_without_a_description_is_named():
    schema = load_schema()
    del schema["$defs"]["repeated_token_mi"]["properties"]["bins"]["description"]
    assert config_reference.undescribed(schema) == ["repeated_token_mi: `bins`"]


def test_the_readme_is_short():
    assert (ROOT / "README.md").stat().st_size <= 15 * 1024
