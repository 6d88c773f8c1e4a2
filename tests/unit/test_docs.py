"""The documentation: the site builds strictly, the configuration reference is the schema's, the README is short,
and each measured number (the suite's time, the demo's jobs) is stated in one place."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
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


# A statement of the suite's or the demo's time, or of a demo's job count: a line that names the suite (or
# `make test`, `make demo`) with a duration (``15:50``, ``about 15 minutes``, ``~3.5 min``), or a job count.
DURATION = re.compile(r"\b\d{1,2}:\d{2}\b|\b\d+(?:\.\d+)?(?: to \d+)?\s*(?:min|minutes)\b")
RUNS = re.compile(r"make test|make demo|\bsuite\b|\btests?\b", re.IGNORECASE)
JOB_COUNT = re.compile(r"\b\d+ (?:more )?jobs\b")
MEASURED_SECTION = "## Measured numbers"


def measured_statements(text: str) -> list[str]:
    """The lines of ``text`` that state the suite's or a demo's time, or a job count."""
    return [
        line.strip()
        for line in text.splitlines()
        if JOB_COUNT.search(line) or (DURATION.search(line) and RUNS.search(line))
    ]


def documentation_pages():
    pages = [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [page for page in pages if page.name != "configuration-reference.md"]


def test_the_suite_time_and_the_demo_job_counts_are_stated_once():
    """They are measured in one place (docs/development.md's "Measured numbers"); every other page links there."""
    elsewhere = {}
    for page in documentation_pages():
        text = page.read_text(encoding="utf-8")
        if page == ROOT / "docs" / "development.md":
            text, measured = text.split(MEASURED_SECTION)
            assert len(measured_statements(measured)) >= 3, "the measured numbers are missing from their section"
        if found := measured_statements(text):
            elsewhere[str(page.relative_to(ROOT))] = found
    assert not elsewhere, f"stated outside docs/development.md#measured-numbers: {elsewhere}"


@pytest.mark.parametrize(
    "line",
    [
        "`make test` takes about 15 minutes on 2 cores",
        "make test   # runs the test suite (22 to 32 min on 2 cores)",
        "`make demo` runs the workflow (offline, CPU, ~3.5 min)",
        "the small corpus with its SAEs (103 jobs)",
        "after `make demo`, 91 more jobs",
        "15:09 for the 772 tests in a fresh clone",
    ],
)
def test_a_second_statement_of_a_measured_number_is_found(line):
    """The check above can fail: each way the numbers were restated before is found."""
    assert measured_statements(f"Some prose.\n{line}\nMore prose.") == [line]
