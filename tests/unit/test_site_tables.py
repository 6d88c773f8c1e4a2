"""The site tables in the package's docstrings are valid reStructuredText (they are the reference
the docs point to): every table parses, with no error or warning from docutils."""

import re

import docutils.core
import pytest

from interpflow.models import architectures, sites


@pytest.mark.parametrize("module", [sites, architectures], ids=lambda module: module.__name__)
def test_docstring_tables_are_valid_restructured_text(module):
    text = re.sub(r":(mod|func|class|data|meth):`([^`]*)`", r"``\2``", module.__doc__)  # Sphinx roles
    tree = docutils.core.publish_doctree(
        text, settings_overrides={"report_level": 5, "halt_level": 5, "warning_stream": False}
    )
    problems = [node.astext() for node in tree.findall() if node.tagname == "system_message" and node["level"] >= 2]
    assert not problems, problems
    assert len(list(tree.findall(lambda node: node.tagname == "table"))) == 1
