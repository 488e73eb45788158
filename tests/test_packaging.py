"""Every package directory is listed in pyproject.toml (and nothing else)."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO

TOP = {"engine": "basketguard.engine", "kernels": "basketguard.kernels",
       "models": "basketguard.models"}


def _package_dirs() -> set[str]:
    found = set()
    for top, dotted in TOP.items():
        for init in (REPO / top).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / top)
            found.add(".".join([dotted, *rel.parts]) if rel.parts else dotted)
    return found


def test_every_package_is_listed():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(cfg["tool"]["setuptools"]["packages"])
    assert listed == _package_dirs()
    mapping = cfg["tool"]["setuptools"]["package-dir"]
    for pkg in listed:
        top = ".".join(pkg.split(".")[:2])
        rest = pkg.split(".")[2:]
        assert (REPO / mapping[top]).joinpath(*rest, "__init__.py").is_file(), pkg


def test_no_directory_without_init():
    for top in TOP:
        for d in (REPO / top).rglob("*"):
            if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")):
                assert (d / "__init__.py").is_file(), f"{d} holds modules but no __init__.py"
