#!/usr/bin/env python3
"""Pin the pip packages of envs/*.yaml to the versions of requirements/lock.txt (run by `make lock`).

torch is not in the lock (its build is chosen at install time); it is pinned to the version of
requirements/torch-cpu.txt without the local build label. Comments in the env files are kept.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", flags=re.M)
ENV_LINE = re.compile(r"^(\s+- )([A-Za-z0-9_.-]+)([^\s#]*)(.*)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions() -> dict[str, str]:
    versions = {normalise(name): version for name, version in PIN.findall((ROOT / "requirements/lock.txt").read_text())}
    torch = PIN.search((ROOT / "requirements/torch-cpu.txt").read_text()).group(2)
    return versions | {"torch": torch.split("+")[0]}


def pin(env_text: str, versions: dict[str, str]) -> str:
    lines = []
    for line in env_text.splitlines():
        match = ENV_LINE.match(line)
        if match and normalise(match.group(2)) in versions:
            indent, name, _, rest = match.groups()
            line = f"{indent}{name}=={versions[normalise(name)]}{rest}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> int:
    versions = locked_versions()
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        path.write_text(pin(path.read_text(), versions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
