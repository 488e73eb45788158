"""Every package directory is listed in pyproject.toml (and nothing else), and the
built wheel holds exactly the tree's modules and the built-in signature library."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

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


# --- the built wheel holds exactly the tree --------------------------------------------

#: Left out of the copy the wheel is built from: caches anywhere, and at the top the VCS,
#: the venv and build output.
_CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", "*.egg-info")
_TOP_LEVEL = {".git", ".venv", "build", "dist", ".pytest_cache", ".ruff_cache", ".hypothesis",
              ".basketguard-cache", "demo-out"}


def _not_copied(folder: str, names: list[str]) -> set[str]:
    skip = set(_CACHES(folder, names))
    return skip | (_TOP_LEVEL & set(names)) if Path(folder) == REPO else skip


def _expected_wheel_files() -> set[str]:
    """What the wheel must hold besides its dist-info: the modules, the built-in library,
    the built-in concepts and the report schema."""
    files = {
        f"basketguard/{top}/{py.relative_to(REPO / top).as_posix()}"
        for top in TOP
        for py in (REPO / top).rglob("*.py")
        if "__pycache__" not in py.parts
    }
    for data in (REPO / "models" / "signatures" / "library",
                 REPO / "models" / "vocabulary" / "concepts"):
        files |= {f"basketguard/models/{toml.relative_to(REPO / 'models').as_posix()}"
                  for toml in data.rglob("*.toml")}
    schema = REPO / "engine" / "report" / "schema"
    files |= {f"basketguard/engine/{js.relative_to(REPO / 'engine').as_posix()}"
              for js in schema.glob("*.json")}
    return files


def test_wheel_holds_exactly_the_tree(tmp_path: Path):
    setuptools_major = int(importlib.metadata.version("setuptools").split(".")[0])
    assert setuptools_major >= 77, (
        "the venv's setuptools is too old to build offline: pip install -e '.[test]'")
    src, out = tmp_path / "src", tmp_path / "wheels"
    # Build from a copy: setuptools writes build/ and *.egg-info next to pyproject.toml.
    shutil.copytree(REPO, src, ignore=_not_copied)
    expected = _expected_wheel_files()
    # Offline by construction: no index, no dependencies, the venv's own setuptools.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--no-cache-dir", "--quiet", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert done.returncode == 0, f"pip wheel failed:\n{done.stdout}\n{done.stderr}"
    wheels = list(out.glob("basketguard-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as whl:
        names = {n for n in whl.namelist() if not n.endswith("/")}
    dist_info = {n for n in names if n.split("/")[0].endswith(".dist-info")}
    assert dist_info, "the wheel has no dist-info"
    content = names - dist_info
    missing, extra = sorted(expected - content), sorted(content - expected)
    assert not missing and not extra, f"missing from the wheel: {missing}\nnot in the tree: {extra}"
