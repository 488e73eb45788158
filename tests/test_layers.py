"""The layer contract: who may import whom inside basketguard.

Read with ``ast`` (nothing is imported), over every ``.py`` file under engine/,
kernels/ and models/, module-level and function-level imports alike:

* ``basketguard.kernels.*`` imports nothing of the project but kernels.
* ``basketguard.models.*`` imports kernels, models, and the engine's foundation
  only: ``basketguard.engine.errors`` and ``basketguard.engine.config.toml``.
* inside ``basketguard.engine`` the layers of :data:`ENGINE_LAYERS`: a module may
  import its own layer or an earlier one (plus kernels and models), never a later
  one. An engine module that no layer covers is a failure, so a new top-level
  module cannot slip past.
* a bare ``import engine`` / ``kernels`` / ``models`` (a second copy) is a failure.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import REPO

#: Repository folder -> the package it installs as.
TOPS = {"engine": "basketguard.engine", "kernels": "basketguard.kernels",
        "models": "basketguard.models"}

ENGINE = "basketguard.engine"

#: The engine's layers, earliest first. Each entry covers that module and
#: everything below it, except the package itself (``basketguard.engine``),
#: which covers only its ``__init__``. Names that don't exist yet are allowed:
#: the rule is ready when they arrive.
ENGINE_LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", (ENGINE, f"{ENGINE}.errors", f"{ENGINE}.findings", f"{ENGINE}.stats")),
    ("config/io", (f"{ENGINE}.config", f"{ENGINE}.io")),
    ("histories", (f"{ENGINE}.histories",)),
    ("runner", (f"{ENGINE}.runner",)),
    ("detect", (f"{ENGINE}.detect",)),
    ("reid", (f"{ENGINE}.reid",)),
    ("mitigate", (f"{ENGINE}.mitigate",)),
    ("gate/report", (f"{ENGINE}.gate", f"{ENGINE}.report")),
    ("api", (f"{ENGINE}.api",)),
    ("cli", (f"{ENGINE}.cli",)),
)

#: What of the engine the models may use: its foundation.
MODELS_MAY_USE_ENGINE = (f"{ENGINE}.errors", f"{ENGINE}.config.toml")

UNCOVERED = "add it to the layer table in tests/test_layers.py"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def engine_layer(name: str) -> int | None:
    """The layer index of an engine module, or None when no layer covers it."""
    for index, (_, prefixes) in enumerate(ENGINE_LAYERS):
        for prefix in prefixes:
            if name == prefix if prefix == ENGINE else _within(name, prefix):
                return index
    return None


def layer_label(name: str) -> str:
    """How a module's layer reads in a failure message."""
    if _within(name, "basketguard.kernels"):
        return "kernels"
    if _within(name, "basketguard.models"):
        return "models"
    if _within(name, ENGINE):
        index = engine_layer(name)
        if index is None:
            return "engine:uncovered"
        return f"engine:{index} {ENGINE_LAYERS[index][0]}"
    return "outside"


def module_of(path: str) -> tuple[str, bool]:
    """``engine/io/sources.py`` -> (``basketguard.engine.io.sources``, is_package)."""
    parts = Path(path).with_suffix("").parts
    top, rest = TOPS[parts[0]], list(parts[1:])
    is_package = bool(rest) and rest[-1] == "__init__"
    if is_package:
        rest.pop()
    return ".".join([top, *rest]), is_package


def _imports(tree: ast.AST, module: str, is_package: bool,
             known: set[str]) -> list[tuple[int, str, str]]:
    """(line, imported module, written name) for every import anywhere in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
                written = "." * node.level + (node.module or "")
            else:
                origin = written = node.module or ""
            if origin == "__future__":
                continue
            for alias in node.names:
                # `from pkg import module` imports the module when there is one.
                candidate = f"{origin}.{alias.name}"
                target = candidate if candidate in known else origin
                found.append((node.lineno, target, written))
    return sorted(found)


def _rule(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported`` (None when it may)."""
    src, dst = layer_label(importer), layer_label(imported)
    if dst.startswith("engine") and engine_layer(imported) is None:
        return f"{imported} is in no engine layer: {UNCOVERED}"
    if src == "kernels":
        ok = dst == "kernels"
    elif src == "models":
        ok = dst in ("kernels", "models") or any(
            _within(imported, allowed) for allowed in MODELS_MAY_USE_ENGINE)
    else:  # an engine module, covered (checked by the caller)
        ok = dst in ("kernels", "models") or engine_layer(imported) <= engine_layer(importer)
    return None if ok else f"layer {src} may not import layer {dst}"


def find_violations(files: Mapping[str, str]) -> list[str]:
    """Check the layer contract over ``{repo-relative path: source}``.

    The known modules (to resolve ``from pkg import module``) are the paths given.
    Returns one ``path:line: importer -> imported (why)`` line per violation.
    """
    modules = {path: module_of(path) for path in files}
    known = {name for name, _ in modules.values()}
    out = []
    for path, source in sorted(files.items()):
        importer, is_package = modules[path]
        if _within(importer, ENGINE) and engine_layer(importer) is None:
            out.append(f"{path}:1: {importer} is in no engine layer: {UNCOVERED}")
            continue
        tree = ast.parse(source, filename=path)
        for line, imported, written in _imports(tree, importer, is_package, known):
            head = written.split(".")[0]
            if head in TOPS:
                why = (f"bare `{written}` loads a second copy: "
                       f"import {TOPS[head]}{written[len(head):]}")
            elif _within(imported, "basketguard"):
                if layer_label(imported) == "outside":
                    why = f"{imported} is no module of engine, kernels or models"
                else:
                    why = _rule(importer, imported)
            else:
                continue  # stdlib or third party
            if why:
                out.append(f"{path}:{line}: {importer} -> {imported} ({why})")
    return out


def tree_sources(repo: Path = REPO) -> dict[str, str]:
    """Every .py file of the three package folders, keyed by repo-relative path."""
    return {
        py.relative_to(repo).as_posix(): py.read_text(encoding="utf-8")
        for top in TOPS
        for py in sorted((repo / top).rglob("*.py"))
        if "__pycache__" not in py.parts
    }


# --- the checker on its own ------------------------------------------------------------


BASE = {  # a minimal tree the snippets below are checked in
    "engine/__init__.py": "",
    "engine/errors.py": "",
    "engine/findings.py": "import math\nfrom basketguard.engine.errors import X\n",
    "engine/config/__init__.py": "",
    "engine/config/toml.py": "import tomllib\nfrom basketguard.engine.errors import ConfigError\n",
    "engine/io/__init__.py": "",
    "engine/histories/__init__.py": "",
    "engine/histories/cache.py": "",
    "engine/cli/__init__.py": "",
    "engine/cli/main.py": "",
    "kernels/__init__.py": "",
    "kernels/encode.py": "import numpy as np\n",
    "models/__init__.py": "",
}


def _check(**snippets: str) -> list[str]:
    files = dict(BASE)
    files.update({path.replace("__", "/") + ".py": src for path, src in snippets.items()})
    return find_violations(files)


def test_checker_catches_forbidden_imports():
    found = _check(
        kernels__bad="import numpy\nfrom basketguard.engine.errors import DataError\n",
        engine__io__sources="def f():\n    from basketguard.engine.cli.main import main\n",
        engine__io__tables="from basketguard.engine import cli\n",
        engine__io__columns="import basketguard.engine.histories.cache\n",
        engine__histories__build="from basketguard.engine.histories import cache\n"
                                 "from basketguard.engine.report import render\n",
        models__schema="from basketguard.engine.io.sources import open_source\n",
        models__sig="import basketguard.engine\n",
        engine__detect__scan="from engine.errors import DataError\nimport kernels.encode\n",
        kernels__rel="from ..engine import errors\n",
    )
    assert found == [
        "engine/detect/scan.py:1: basketguard.engine.detect.scan -> engine.errors "
        "(bare `engine.errors` loads a second copy: import basketguard.engine.errors)",
        "engine/detect/scan.py:2: basketguard.engine.detect.scan -> kernels.encode "
        "(bare `kernels.encode` loads a second copy: import basketguard.kernels.encode)",
        "engine/histories/build.py:2: basketguard.engine.histories.build -> "
        "basketguard.engine.report (layer engine:2 histories may not import "
        "layer engine:7 gate/report)",
        "engine/io/columns.py:1: basketguard.engine.io.columns -> "
        "basketguard.engine.histories.cache (layer engine:1 config/io may not import "
        "layer engine:2 histories)",
        "engine/io/sources.py:2: basketguard.engine.io.sources -> basketguard.engine.cli.main "
        "(layer engine:1 config/io may not import layer engine:9 cli)",
        "engine/io/tables.py:1: basketguard.engine.io.tables -> basketguard.engine.cli "
        "(layer engine:1 config/io may not import layer engine:9 cli)",
        "kernels/bad.py:2: basketguard.kernels.bad -> basketguard.engine.errors "
        "(layer kernels may not import layer engine:0 foundation)",
        "kernels/rel.py:1: basketguard.kernels.rel -> basketguard.engine.errors "
        "(layer kernels may not import layer engine:0 foundation)",
        "models/schema.py:1: basketguard.models.schema -> basketguard.engine.io.sources "
        "(layer models may not import layer engine:1 config/io)",
        "models/sig.py:1: basketguard.models.sig -> basketguard.engine "
        "(layer models may not import layer engine:0 foundation)",
    ]


def test_checker_allows_the_permitted_imports():
    assert _check(
        kernels__ok="import numba\nfrom basketguard.kernels import encode\n"
                    "from basketguard.kernels.encode import f\n",
        models__ok="from basketguard.engine.errors import ConfigError\n"
                   "from basketguard.engine.config.toml import load\n"
                   "from basketguard.engine.config import toml\n"
                   "from basketguard.engine import errors\n"
                   "from basketguard.kernels.encode import f\n"
                   "def g():\n    import basketguard.models.other\n",
        engine__io__ok="from basketguard.engine.config import toml\n"
                       "from basketguard.engine.findings import Finding\n"
                       "from basketguard.models.ok import x\nimport basketguard.kernels.encode\n",
        engine__histories__build="from basketguard.engine.histories import cache\n"
                                 "from basketguard.engine.io import ok\n",
        engine__cli__scan="def f():\n    from basketguard.engine.histories import cache\n"
                          "from basketguard.engine.cli.main import main\n"
                          "from basketguard.engine import __version__\n"
                          "from . import main\nfrom .main import main\n",
        engine__api="from basketguard.engine.mitigate.plan import plan\n"
                    "from basketguard.engine.gate import check\n",
    ) == []


def test_checker_flags_uncovered_modules():
    found = _check(
        engine__newthing="from basketguard.engine.errors import X\n",
        engine__io__ok="from basketguard.engine.newthing import y\n",
        kernels__odd="import basketguard.elsewhere\n",
    )
    assert found == [
        "engine/io/ok.py:1: basketguard.engine.io.ok -> basketguard.engine.newthing "
        f"(basketguard.engine.newthing is in no engine layer: {UNCOVERED})",
        f"engine/newthing.py:1: basketguard.engine.newthing is in no engine layer: {UNCOVERED}",
        "kernels/odd.py:1: basketguard.kernels.odd -> basketguard.elsewhere "
        "(basketguard.elsewhere is no module of engine, kernels or models)",
    ]


def test_layer_table_names_every_planned_package():
    for name, layer in [(ENGINE, 0), (f"{ENGINE}.stats", 0), (f"{ENGINE}.config.toml", 1),
                        (f"{ENGINE}.runner.pool", 3), (f"{ENGINE}.mitigate", 6),
                        (f"{ENGINE}.report.html", 7), (f"{ENGINE}.api", 8),
                        (f"{ENGINE}.cli.main", 9), (f"{ENGINE}.apiary", None)]:
        assert engine_layer(name) == layer, name


# --- the real tree ---------------------------------------------------------------------


def test_tree_keeps_the_layers():
    files = tree_sources()
    assert any(path.startswith("engine/cli/") for path in files)  # the walk found the tree
    violations = find_violations(files)
    assert not violations, "layer contract broken:\n" + "\n".join(violations)


def test_checker_sees_the_real_tree():
    """A violation planted in (a copy of) the real sources is reported, with its line."""
    files = tree_sources()
    planted = files["kernels/encode.py"].rstrip("\n") + "\n"
    line = planted.count("\n") + 3  # a blank line, the def, then the import
    files["kernels/encode.py"] = planted + "\ndef _late():\n    from basketguard.engine import api\n"
    assert find_violations(files) == [
        f"kernels/encode.py:{line}: basketguard.kernels.encode -> basketguard.engine.api "
        "(layer kernels may not import layer engine:8 api)"
    ]
