"""Which package modules a workflow script runs, so Snakemake reruns it when they change.

Snakemake tracks a rule's script but not the modules the script imports. The rules list the
files returned by :func:`imported_package_files` as inputs, so editing a module reruns
exactly the stages that import it (directly or through other package modules).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from pathlib import Path


def _module_file(src_root: Path, module: str) -> Path | None:
    base = src_root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path, package: str) -> frozenset[str]:
    """Dotted names of ``package`` modules that ``path`` imports (absolute imports only).

    The rules ask for ~40 scripts' closures, which share most of their files: each file is parsed once
    per version (path, modification time and size), not once per script that reaches it.
    """
    stat = path.stat()
    return _parsed_imports(str(path.resolve()), stat.st_mtime_ns, stat.st_size, package)


@functools.cache
def _parsed_imports(path: str, mtime_ns: int, size: int, package: str) -> frozenset[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # submodule imports
    return frozenset(name for name in names if name == package or name.startswith(package + "."))


def imported_package_files(script: str | Path, src_root: str | Path, package: str = "interpflow") -> list[Path]:
    """Every file of ``package`` (under ``src_root``) that running ``script`` imports, sorted.

    Follows imports transitively and includes the ``__init__.py`` of each enclosing package,
    which Python executes on import.
    """
    return _closure([Path(script)], set(), Path(src_root), package)


def package_module_files(modules: Iterable[str], src_root: str | Path, package: str = "interpflow") -> list[Path]:
    """Every file of ``package`` that importing ``modules`` (dotted names, e.g. what a script loads with
    :func:`importlib.import_module`) runs: each module's file, its packages' ``__init__.py`` and their
    imports, transitively; sorted."""
    src_root, seen = Path(src_root), set()
    for module in modules:
        _add_module(module, seen, src_root)
    return _closure(sorted(seen), seen, src_root, package)


def _add_module(module: str, seen: set[Path], src_root: Path) -> list[Path]:
    """Add the files that importing ``module`` executes directly (its packages' and its own); return the new ones."""
    parts, new = module.split("."), []
    for depth in range(1, len(parts) + 1):
        found = _module_file(src_root, ".".join(parts[:depth]))
        if found is not None and found not in seen:
            seen.add(found)
            new.append(found)
    return new


def _closure(pending: list[Path], seen: set[Path], src_root: Path, package: str) -> list[Path]:
    """``seen`` with every package file that the files in ``pending`` import, transitively; sorted."""
    pending = list(pending)
    while pending:
        for module in _imported_modules(pending.pop(), package):
            pending += _add_module(module, seen, src_root)
    return sorted(seen)
