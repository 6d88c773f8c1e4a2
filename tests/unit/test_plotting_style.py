"""One style for every figure: colour maps and sizes come from plotting/style.py, PNG at PNG_DPI plus SVG."""

import ast
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
from PIL import Image

from interpflow.plotting import style
from tests.conftest import ROOT

PLOTTING = ROOT / "src" / "interpflow" / "plotting"


def named_colour_maps(path: Path) -> list[str]:
    """Colour maps a module names itself: ``cmap="..."`` arguments and ``colormaps["..."]`` lookups."""
    named = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.keyword) and node.arg == "cmap" and isinstance(node.value, ast.Constant):
            named.append(node.value.value)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            if isinstance(node.value, ast.Attribute) and node.value.attr == "colormaps":
                named.append(node.slice.value)
    return named


def test_named_colour_maps_are_found(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('ax.imshow(x, cmap="viridis")\ncolours = mpl.colormaps["tab20"]\nax.plot(x, color="gray")\n')
    assert sorted(named_colour_maps(probe)) == ["tab20", "viridis"]


def test_figure_modules_name_no_colour_map_of_their_own():
    for module in PLOTTING.glob("*.py"):
        assert named_colour_maps(module) == [], f"{module.name} names a colour map; use style's"


def test_only_the_style_module_saves_figures():
    for module in PLOTTING.glob("*.py"):
        if module.name != "style.py":
            assert "savefig" not in module.read_text(), module.name


def test_style_colour_maps_exist():
    for name in (style.SEQUENTIAL_CMAP, style.DIVERGING_CMAP, style.INTENSITY_CMAP, style.CATEGORICAL_CMAP):
        assert name in mpl.colormaps


def test_save_figure_writes_png_at_the_stated_dpi_and_svg(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    style.save_figure(fig, tmp_path / "f.png", tmp_path / "f.svg")
    with Image.open(tmp_path / "f.png") as image:
        assert round(image.info["dpi"][0]) == style.PNG_DPI
    assert (tmp_path / "f.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["f.png", "f.svg"]  # no temporary files left
