"""The warehouse paths end to end: the simulator's data in a real PostgreSQL server and in
a real DuckDB file give, verb for verb, the JSON the Parquet files give; results written
back to either database come back row for row; write-back is refused before any work
when it could only fail or harm, and a write-back that fails fails the run (exit 3, a
gate never passes) and leaves the old table and no temporary table behind.

The verbs that score run the compiled kernels and are marked ``jit``; the refusals
happen before anything is read and run in the NUMBA_DISABLE_JIT pass too. PostgreSQL
tables are named ``t_wh_c_*`` in the session's shared server and dropped at the end.
Helpers that read tables back are the write-back tests' own
(:mod:`tests.engine.io.test_writeback`), so both files judge a table the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from basketguard.engine import api
from basketguard.engine.cli.main import main
from basketguard.engine.io import writeback
from basketguard.engine.io.secrets import redact_uri
from tests.engine.io.test_writeback import (
    CATALOG_ROWS,
    SOURCE_ROWS,
    DuckDB,
    Postgres,
    Warehouse,
    assert_same_rows,
)

REPO = Path(__file__).resolve().parents[3]
POLICY = REPO / "examples" / "policies" / "demo.toml"
PREFIX = "t_wh_c_"
ROLES = ("lines", "catalog", "customers", "truth")
#: Every verb that reads a project, with the options that make it do its full work.
VERBS = {
    "profile": [],
    "scan": [],
    "assess": ["--segment-signature", "pregnancy"],
    "gate": ["--policy", POLICY, "--segment-signature", "pregnancy"],
    "recommend": ["--policy", POLICY, "--segment-signature", "pregnancy"],
}
#: Lines the filter drops: a store, cheap items, the last quarter (a timestamp literal
#: against a timestamptz column, a float literal against a float32 column).
FILTER = "store_id != 2 and price >= 1.1 and ts < timestamp('2024-10-01T00:00:00')"
LENIENT = "[policy]\nmax_posterior = 0.99\nmin_audience = 1\n"
SCORE_KEYS = ["customer_id", "signature"]
BOTH = ["postgresql", "duckdb"]
WRITING = BOTH


class Run(NamedTuple):
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict:
        return json.loads(self.out)


def run(*argv) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Run(code, out.getvalue(), err.getvalue())


def succeeded(result: Run, code: int = 0) -> Run:
    """``result`` exited with ``code``."""
    assert result.code == code, result.err
    return result


def refused(result: Run, *parts: str) -> None:
    assert result.code == 3, result.err
    assert result.err.startswith("basketguard: error: "), result.err
    for part in parts:
        assert part in result.err


def without_location(verb: str, doc: dict, where: str) -> dict:
    """The report without the one field that names where the data is.

    Only ``profile`` has one, ``source``: "<project file> [lines] (<Parquet file, DuckDB
    file or URI without its password>[, table '<name>' | query])". It differs between the
    projects by design; no other field of any verb's JSON may.
    """
    if verb != "profile":
        return doc
    assert where in doc["source"]
    return {k: v for k, v in doc.items() if k != "source"}


def project_text(template: str, role_source: dict[str, str]) -> str:
    """The simulator's project file with other sources for some roles."""
    for role, source in role_source.items():
        line = f'source = "{role}.parquet"'
        assert template.count(line) == 1, f"synth's project file has no {line}"
        template = template.replace(line, source)
    return template


def findings_of(doc: dict) -> pa.Table:
    """The gate report's checks as the findings table's docstring describes it (details
    are compared parsed: they are JSON)."""
    rows = [c["finding"] for c in doc["checks"]]

    def num(key: str) -> pa.Array:
        return pa.array([None if r.get(key) is None else float(r[key]) for r in rows],
                        pa.float64())

    def bound(i: int) -> pa.Array:
        return pa.array([(r.get("interval") or [None, None])[i] for r in rows], pa.float64())

    return pa.table({
        "check": [r["check"] for r in rows], "metric": [r["metric"] for r in rows],
        "value": num("value"), "interval_low": bound(0), "interval_high": bound(1),
        "threshold": num("threshold"), "severity": [r["severity"] for r in rows],
        "explanation": [r["explanation"] for r in rows],
        "details": [json.dumps(r.get("details", {})) for r in rows],
    })


def assert_same_findings(got: pa.Table | None, want: pa.Table) -> None:
    assert got is not None, "the table is missing"

    def parsed(t: pa.Table) -> list:
        return sorted((r["check"], json.loads(r["details"])) for r in t.to_pylist())

    assert parsed(got) == parsed(want)
    drop = [c for c in want.column_names if c != "details"]
    assert_same_rows(got.select(drop), want.select(drop), keys=["check"])
    assert got.column_names == want.column_names


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _drop_prefixed(server, prefix: str) -> None:
    like = prefix.replace("_", "\\_") + "%"
    names = server.query("SELECT quote_ident(tablename) AS t FROM pg_tables WHERE "
                         f"schemaname = 'public' AND tablename LIKE '{like}'")
    for name in names.column("t").to_pylist():
        server.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


@pytest.fixture(autouse=True)
def _private_default_cache(tmp_path, monkeypatch):
    # Every run names --no-cache or --cache-dir; this keeps a slip off the user's cache.
    monkeypatch.setenv("BASKETGUARD_CACHE", str(tmp_path / "default-cache"))


# --- the simulator's data in three places --------------------------------------------------


class Sites(NamedTuple):
    folder: Path
    projects: dict[str, Path]
    where: dict[str, str]
    server: object
    databases: dict[str, Warehouse]
    #: The write-back tests share a cache (histories, concepts): only the reports
    #: are compared without one.
    cache: list


@pytest.fixture(scope="module")
def sites(tmp_path_factory, pg_server) -> Sites:
    """The simulator's four tables as Parquet files (its own project), PostgreSQL tables
    and a DuckDB file, with a project file for each; a second DuckDB file takes the
    write-backs, so that the first (and its cache entries) never changes."""
    folder = tmp_path_factory.mktemp("warehouses") / "data"
    assert run("synth", "--customers", 2000, "--seed", 7, "--out", folder).code == 0
    tables = {role: pq.read_table(folder / f"{role}.parquet") for role in ROLES}
    with duckdb.connect(str(folder / "wh.duckdb")) as con:
        for role, table in tables.items():
            pg_server.load_arrow(f"{PREFIX}{role}", table)
            con.register("rows_of_role", table)
            con.execute(f"CREATE TABLE {PREFIX}{role} AS SELECT * FROM rows_of_role")
            con.unregister("rows_of_role")
    shutil.copy(folder / "wh.duckdb", folder / "wb.duckdb")
    template = (folder / "project.toml").read_text()
    uri = pg_server.uri("bg_writer")

    def pg(role: str, who: str = "bg_writer") -> str:
        return (f'format = "postgresql"\nsource = "{pg_server.uri(who)}"\n'
                f'table = "{PREFIX}{role}"')

    def dk(role: str, file: str = "wh.duckdb") -> str:
        return f'source = "{file}"\ntable = "{PREFIX}{role}"'

    texts = {
        "postgresql": {r: pg(r) for r in ROLES},
        "postgresql-reader": {r: pg(r, "bg_reader") for r in ROLES},
        "duckdb": {r: dk(r) for r in ROLES},
        "duckdb-writeback": {r: dk(r, "wb.duckdb") for r in ROLES},
        "parquet-filter": {"lines": f'source = "lines.parquet"\nfilter = "{FILTER}"'},
        "postgresql-query": {**{r: pg(r) for r in ROLES}, "lines": (
            f'format = "postgresql"\nsource = "{uri}"\n'
            f'query = "SELECT * FROM {PREFIX}lines"\nfilter = "{FILTER}"')},
        "duckdb-query": {**{r: dk(r) for r in ROLES}, "lines": (
            f'source = "wh.duckdb"\nquery = "SELECT * FROM {PREFIX}lines"\n'
            f'filter = "{FILTER}"')},
    }
    projects = {"parquet": folder / "project.toml"}
    for name, sources in texts.items():
        projects[name] = folder / f"{name}.toml"
        projects[name].write_text(project_text(template, sources))
    (folder / "lenient.toml").write_text(LENIENT)
    where = {"parquet": str(folder / "lines.parquet"), "postgresql": redact_uri(uri),
             "duckdb": str(folder / "wh.duckdb")}
    databases = {"postgresql": Postgres(None, pg_server),
                 "duckdb": DuckDB(None, folder / "wb.duckdb")}
    yield Sites(folder, projects, where, pg_server, databases,
                ["--cache-dir", folder.parent / "cache"])
    _drop_prefixed(pg_server, PREFIX)


@pytest.fixture(scope="module")
def parquet(sites):
    """The Parquet project's run of each verb (--no-cache), once: the reference. The scan
    also writes --scores and recommend --out, which the reports do not depend on."""
    done: dict[str, Run] = {}
    outputs = {"scan": ["--scores", sites.folder / "parquet-scores.parquet"],
               "recommend": ["--out", sites.folder / "parquet-segment.parquet"]}

    def reference(verb: str, project: str = "parquet", options: list | None = None) -> Run:
        key = (verb, project, *map(str, options or []))
        if key not in done:
            extra = outputs.get(verb, []) if project == "parquet" and options is None else []
            done[key] = run(verb, sites.projects[project], *(VERBS[verb] if options is None
                                                             else options),
                            "--json", "--no-cache", *extra)
            assert done[key].code in (0, 1, 2), done[key].err
        return done[key]

    return reference


@pytest.fixture(scope="module")
def cache_of(sites, tmp_path_factory):
    """A cache folder per warehouse, filled by a first `profile` and read by the second."""
    folders: dict[str, Path] = {}

    def folder(kind: str) -> Path:
        if kind not in folders:
            path = tmp_path_factory.mktemp(f"cache-{kind}")
            states = []
            for _ in range(2):
                got = run("profile", sites.projects[kind], "--json", "--timings",
                          "--cache-dir", path)
                assert got.code == 0, got.err
                states.append(got.json["build"]["cache"])
            assert states == ["stored", "hit"]
            folders[kind] = path
        return folders[kind]

    return folder


# --- the same reports ----------------------------------------------------------------------


#: Every verb without the cache; with it, those that load differently (assess and
#: recommend load as gate does).
REPORT_CASES = [(verb, "no-cache") for verb in VERBS] + [
    (verb, "cached") for verb in ("profile", "scan", "gate")]


@pytest.mark.jit
@pytest.mark.parametrize("kind", BOTH)
@pytest.mark.parametrize("verb, mode", REPORT_CASES, ids=[f"{v}-{m}" for v, m in REPORT_CASES])
def test_a_warehouse_gives_the_parquet_report(sites, parquet, cache_of, verb, kind, mode):
    want = parquet(verb)
    cache = ["--no-cache"] if mode == "no-cache" else ["--cache-dir", cache_of(kind)]
    got = run(verb, sites.projects[kind], *VERBS[verb], "--json", *cache)
    assert got.code == want.code, got.err
    assert (without_location(verb, got.json, sites.where[kind])
            == without_location(verb, want.json, sites.where["parquet"]))
    assert sites.server.roles["bg_writer"] not in got.out + got.err


@pytest.mark.jit
@pytest.mark.parametrize("kind", BOTH)
@pytest.mark.parametrize("verb", ["profile", "scan"])
def test_a_query_with_a_filter_gives_the_parquet_report(sites, parquet, tmp_path, verb, kind):
    want = parquet(verb, "parquet-filter")
    if verb == "profile":
        assert 0 < want.json["lines"] < parquet("profile").json["lines"]
    got = run(verb, sites.projects[f"{kind}-query"], *VERBS[verb], "--json",
              "--cache-dir", tmp_path / "cache")
    assert got.code == want.code, got.err
    assert (without_location(verb, got.json, sites.where[kind])
            == without_location(verb, want.json, sites.where["parquet"]))
    if kind == "postgresql":  # a query has no row versions: read anew on every run
        assert "(not cached): a query has no row versions" in got.err


# --- results written back ------------------------------------------------------------------


@pytest.fixture
def written(monkeypatch) -> dict[str, pa.Table]:
    """Option -> the Arrow table the CLI handed to write_table (then written as usual)."""
    tables: dict[str, pa.Table] = {}
    write = writeback.write_table

    def record(target, table, replace=False):
        tables[target.option] = table
        return write(target, table, replace)

    monkeypatch.setattr(writeback, "write_table", record)
    return tables


def _writeback(sites: Sites, kind: str) -> tuple[Path, Warehouse]:
    project = sites.projects["postgresql" if kind == "postgresql" else "duckdb-writeback"]
    return project, sites.databases[kind]


def _name(tag: str) -> str:
    return f"{PREFIX}{tag}_{uuid.uuid4().hex[:8]}"


@pytest.mark.jit
@pytest.mark.parametrize("kind", WRITING)
def test_scan_writes_its_findings_and_scores_back(sites, parquet, written, tmp_path, kind):
    project, db = _writeback(sites, kind)
    reference = parquet("scan")  # writes the Parquet project's --scores
    findings, scores = _name("findings"), _name("scores")
    tables = ["--findings-table", findings, "--scores-table", scores]
    first = succeeded(run("scan", project, *sites.cache, "--json",
                          "--scores", tmp_path / "scores.parquet", *tables))
    file = pq.read_table(tmp_path / "scores.parquet")
    assert f"wrote {file.num_rows:,} rows to --scores-table {scores!r}" in first.err
    kept = db.read(findings), db.read(scores)
    assert_same_rows(kept[1], file, SCORE_KEYS)
    assert_same_rows(kept[1], written["--scores-table"], SCORE_KEYS)
    assert_same_rows(file, pq.read_table(sites.folder / "parquet-scores.parquet"), SCORE_KEYS)
    assert_same_rows(kept[0], written["--findings-table"], ["check"])
    assert first.json == reference.json

    other = _name("other")
    again = run("scan", project, *sites.cache, "--findings-table", findings,
                "--scores-table", other)
    refused(again, f"--findings-table {findings!r}", "the table exists; pass --replace")
    assert db.read(other) is None
    assert_same_rows(db.read(findings), kept[0], ["check"])
    assert_same_rows(db.read(scores), kept[1], SCORE_KEYS)

    succeeded(run("scan", project, *sites.cache, *tables, "--replace",
                  "--min-probability", 0.5))
    likely = file.filter(pc.greater_equal(file["probability"], 0.5))
    assert 0 < likely.num_rows < file.num_rows
    assert_same_rows(db.read(scores), likely, SCORE_KEYS)
    assert db.leftovers() == []


@pytest.mark.jit
@pytest.mark.parametrize("kind", WRITING)
def test_gate_writes_its_checks_back(sites, parquet, written, kind):
    project, db = _writeback(sites, kind)
    name = _name("gate")
    first = succeeded(run("gate", project, *VERBS["gate"], "--json", *sites.cache,
                          "--findings-table", name), code=parquet("gate").code)
    kept = db.read(name)
    assert_same_findings(kept, findings_of(first.json))
    assert_same_findings(kept, findings_of(parquet("gate").json))
    assert_same_rows(kept, written["--findings-table"], ["check"])

    lenient = ["--policy", sites.folder / "lenient.toml", "--segment-signature", "pregnancy"]
    refused(run("gate", project, *lenient, *sites.cache, "--findings-table", name),
            f"--findings-table {name!r}", "--replace")
    assert_same_rows(db.read(name), kept, ["check"])

    third = succeeded(run("gate", project, *lenient, "--json", *sites.cache,
                          "--findings-table", name, "--replace"))
    now = db.read(name)
    assert_same_findings(now, findings_of(third.json))
    assert set(now.column("severity").to_pylist()) == {"pass"}
    assert now.num_rows != kept.num_rows
    assert db.leftovers() == []


@pytest.mark.jit
@pytest.mark.parametrize("kind", WRITING)
def test_recommend_writes_the_amended_segment_back(sites, parquet, tmp_path, kind):
    project, db = _writeback(sites, kind)
    name = _name("segment")
    parquet("recommend")  # writes the Parquet project's --out
    succeeded(run("recommend", project, *VERBS["recommend"], *sites.cache,
                  "--out", tmp_path / "a.parquet", "--segment-table", name))
    first = pq.read_table(tmp_path / "a.parquet")
    assert_same_rows(db.read(name), first, ["customer"])
    assert_same_rows(first, pq.read_table(sites.folder / "parquet-segment.parquet"),
                     ["customer"])

    refused(run("recommend", project, *VERBS["recommend"], *sites.cache,
                "--segment-table", name), f"--segment-table {name!r}", "--replace")
    assert_same_rows(db.read(name), first, ["customer"])

    succeeded(run("recommend", project, *VERBS["recommend"], *sites.cache, "--seed", 1,
                  "--out", tmp_path / "b.parquet", "--segment-table", name, "--replace"))
    second = pq.read_table(tmp_path / "b.parquet")
    assert not second.equals(first)
    assert_same_rows(db.read(name), second, ["customer"])
    assert db.leftovers() == []


# --- a write-back that fails fails the run ---------------------------------------------------


@pytest.mark.jit
def test_a_role_that_may_not_create_tables_fails_the_gate(sites, parquet):
    lenient = ["--policy", sites.folder / "lenient.toml", "--segment-signature", "pregnancy"]
    assert parquet("gate", "parquet", lenient).code == 0  # the gate itself passes
    name = _name("denied")
    got = run("gate", sites.projects["postgresql-reader"], *lenient, *sites.cache,
              "--findings-table", name)
    refused(got, f"--findings-table {name!r}", "permission denied", "Nothing was written.")
    assert sites.server.roles["bg_reader"] not in got.err
    db = sites.databases["postgresql"]
    assert db.read(name) is None
    assert db.leftovers() == []


@pytest.mark.jit
@pytest.mark.parametrize("kind", BOTH)
def test_a_failed_swap_fails_the_gate_and_keeps_the_old_table(sites, parquet, kind):
    # The swap fails at DROP TABLE, after the new table is filled: PostgreSQL refuses to
    # drop a table a view depends on, DuckDB one a foreign key refers to.
    lenient = ["--policy", sites.folder / "lenient.toml", "--segment-signature", "pregnancy"]
    assert parquet("gate", "parquet", lenient).code == 0
    project, db = _writeback(sites, kind)
    name = _name("held")
    old = pa.table({"check": ["an old check"], "k": [1]})
    if kind == "postgresql":
        db.make(name, old)
        db.execute(f"CREATE VIEW {name}_v AS SELECT * FROM {name}")
    else:
        db.execute(f'CREATE TABLE {name} ("check" VARCHAR, k BIGINT PRIMARY KEY)')
        db.execute(f"INSERT INTO {name} VALUES ('an old check', 1)")
        db.execute(f"CREATE TABLE {name}_child (k BIGINT REFERENCES {name} (k))")
    got = run("gate", project, *lenient, *sites.cache, "--findings-table", name, "--replace")
    refused(got, f"--findings-table {name!r}")
    assert "wrote" not in got.err
    assert_same_rows(db.read(name), old, ["k"])
    assert db.leftovers() == []


@pytest.mark.jit
def test_a_failed_write_back_leaves_no_report_of_a_pass(sites, parquet, tmp_path):
    lenient = ["--policy", sites.folder / "lenient.toml", "--segment-signature", "pregnancy"]
    assert parquet("gate", "parquet", lenient).code == 0
    name = _name("reported")
    db = sites.databases["postgresql"]
    db.make(name, pa.table({"k": [1]}))
    db.execute(f"CREATE VIEW {name}_v AS SELECT * FROM {name}")
    report, junit = tmp_path / "gate.json", tmp_path / "gate.xml"
    got = run("gate", sites.projects["postgresql"], *lenient, *sites.cache, "--report", report,
              "--report", f"junit:{junit}", "--findings-table", name, "--replace")
    refused(got, f"--findings-table {name!r}")
    if report.exists():
        doc = json.loads(report.read_text())
        assert doc["verdict"] != "pass" and doc["exit_code"] == 3
    if junit.exists():
        assert 'errors="0"' not in junit.read_text()


@pytest.mark.jit
def test_the_duckdb_file_is_opened_for_writing_only_to_check_and_to_write(sites, tmp_path,
                                                                         monkeypatch):
    path = tmp_path / "own.duckdb"
    shutil.copy(sites.folder / "wh.duckdb", path)
    project = tmp_path / "own.toml"
    project.write_text(sites.projects["duckdb"].read_text().replace(
        'source = "wh.duckdb"', f'source = "{path}"'))
    original = sha256(path)
    opened: list[tuple[str, bool]] = []
    connect, write = duckdb.connect, writeback.write_table

    def spy_connect(database=":memory:", read_only=False, *args, **kwargs):
        if Path(str(database)) == path:
            opened.append((sys._getframe(1).f_globals["__name__"], read_only))
        return connect(database, read_only, *args, **kwargs)

    def spy_write(target, table, replace=False):
        opened.append(("write_table", sha256(path) == original))
        return write(target, table, replace)

    monkeypatch.setattr(duckdb, "connect", spy_connect)
    monkeypatch.setattr(writeback, "write_table", spy_write)
    run("scan", project, *sites.cache, "--findings-table", _name("findings"))
    module = writeback.__name__
    assert opened[0] == (module, False)  # the check, before anything is read
    assert opened[-2:] == [("write_table", True), (module, False)]  # unchanged until then
    reads = opened[1:-2]
    assert reads and all(ro and name != module for name, ro in reads), opened


# --- refused before any work (no kernels) ----------------------------------------------------


@pytest.fixture(scope="module")
def small_pg(pg_server):
    prefix = "t_wh_cs_"
    pg_server.load_arrow(f"{prefix}lines", SOURCE_ROWS)
    pg_server.load_arrow(f"{prefix}catalog", CATALOG_ROWS)
    yield pg_server
    _drop_prefixed(pg_server, prefix)


SMALL = """[project]
name = "small"
[lines]
{lines}
[lines.columns]
customer = "customer_id"
item = "item_id"
time = "ts"
[catalog]
{catalog}
[catalog.columns]
item = "item_id"
name = "name"
"""


@pytest.fixture(params=["postgresql", "duckdb", "parquet"])
def small(request, tmp_path) -> tuple[Path, Warehouse | None]:
    """A project of three lines on each kind of source, and its database."""
    kind, prefix = request.param, "t_wh_cs_"
    if kind == "postgresql":
        server = request.getfixturevalue("small_pg")
        source = f'format = "postgresql"\nsource = "{server.uri("bg_writer")}"'
        db: Warehouse | None = Postgres(None, server)
    elif kind == "duckdb":
        db = DuckDB(None, tmp_path / "small.duckdb")
        db.make(f"{prefix}lines", SOURCE_ROWS)
        db.make(f"{prefix}catalog", CATALOG_ROWS)
        source = 'source = "small.duckdb"'
    else:
        pq.write_table(SOURCE_ROWS, tmp_path / "lines.parquet")
        pq.write_table(CATALOG_ROWS, tmp_path / "catalog.parquet")
        db = None
    if db is None:
        text = SMALL.format(lines='source = "lines.parquet"',
                            catalog='source = "catalog.parquet"')
    else:
        text = SMALL.format(lines=f'{source}\ntable = "{prefix}lines"',
                            catalog=f'{source}\ntable = "public.{prefix}catalog"'
                            if kind == "postgresql" else f'{source}\ntable = "{prefix}catalog"')
    (tmp_path / "small.toml").write_text(text)
    return tmp_path / "small.toml", db


@pytest.fixture
def reads(monkeypatch) -> list:
    """Calls of load_histories: a refusal must come before any."""
    calls: list = []
    load = api.load_histories

    def spy(*args, **kwargs):
        calls.append(args)
        return load(*args, **kwargs)

    monkeypatch.setattr(api, "load_histories", spy)
    return calls


#: (verb, its options before the table, the table option) of every write-back.
TARGETS = [("scan", [], "--findings-table"), ("scan", [], "--scores-table"),
           ("gate", VERBS["gate"], "--findings-table"),
           ("recommend", VERBS["recommend"], "--segment-table")]


#: Every option with a bare source name; scan's with the schema too, and the catalog.
SOURCE_CASES = [(*t, "lines") for t in TARGETS] + [
    ("scan", [], "--findings-table", "schema.lines"), ("scan", [], "--scores-table", "catalog")]


@pytest.mark.parametrize("small", ["postgresql", "duckdb"], indirect=True)
@pytest.mark.parametrize("verb, before, option, which", SOURCE_CASES,
                         ids=[f"{v}{o}-{w}" for v, _, o, w in SOURCE_CASES])
def test_a_source_table_is_never_a_target(small, reads, verb, before, option, which):
    project, db = small
    schema = "public" if isinstance(db, Postgres) else "main"
    name = {"lines": "t_wh_cs_lines", "schema.lines": f"{schema}.t_wh_cs_lines",
            "catalog": "t_wh_cs_catalog"}[which]
    got = run(verb, project, *before, "--no-cache", option, name, "--replace")
    refused(got, f"{option} {name!r}", "source table of this project")
    assert reads == []
    assert_same_rows(db.read("t_wh_cs_lines"), SOURCE_ROWS, ["ts"])
    assert_same_rows(db.read("t_wh_cs_catalog"), CATALOG_ROWS, ["item_id"])
    assert db.leftovers() == []


@pytest.mark.parametrize("small", ["parquet"], indirect=True)
@pytest.mark.parametrize("verb, before, option", TARGETS, ids=[f"{v}{o}" for v, _, o in TARGETS])
def test_write_back_needs_a_database_lines_source(small, reads, verb, before, option):
    project, _ = small
    got = run(verb, project, *before, "--no-cache", option, "results")
    refused(got, f"{option} 'results': results are written back to the database the [lines] "
                 f"source reads", f"{project} [lines] is a parquet file",
            "write a file instead (--out, --scores)")
    assert reads == []


@pytest.mark.parametrize("small", ["postgresql", "duckdb"], indirect=True)
def test_two_results_may_not_share_a_table(small, reads):
    project, db = small
    got = run("scan", project, "--no-cache", "--findings-table", "t_wh_cs_both",
              "--scores-table", "t_wh_cs_both", "--replace")
    refused(got, "--findings-table and --scores-table name the same table 't_wh_cs_both'")
    assert reads == [] and db.read("t_wh_cs_both") is None


@pytest.mark.parametrize("small", ["postgresql", "duckdb"], indirect=True)
@pytest.mark.parametrize("verb, before, option", TARGETS, ids=[f"{v}{o}" for v, _, o in TARGETS])
def test_an_existing_table_is_refused_before_any_work(small, reads, verb, before, option):
    project, db = small
    name = _name("exists").replace(PREFIX, "t_wh_cs_")
    old = pa.table({"k": [1, 2], "old": ["kept", "as it was"]})
    db.make(name, old)
    got = run(verb, project, *before, "--no-cache", option, name)
    refused(got, f"{option} {name!r}", "the table exists; pass --replace to replace it")
    assert reads == []
    assert_same_rows(db.read(name), old, ["k"])


@pytest.mark.parametrize("small", ["postgresql", "duckdb"], indirect=True)
@pytest.mark.parametrize("name", ["a.b.c", ".t", "t."])
def test_a_target_is_table_or_schema_dot_table(small, reads, name):
    project, _ = small
    refused(run("scan", project, "--no-cache", "--findings-table", name),
            "give a table name, `table` or `schema.table`")
    assert reads == []


_HOLD = ("import duckdb, sys\n"
         "con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro')\n"
         "print('open', flush=True)\n"
         "sys.stdin.read()\n")


@pytest.mark.parametrize("small", ["duckdb"], indirect=True)
@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_a_duckdb_file_another_process_holds_is_refused_before_any_work(small, reads, mode):
    project, db = small
    before = sha256(db.path)
    with subprocess.Popen([sys.executable, "-c", _HOLD, str(db.path), mode],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "open"
        got = run("gate", project, *VERBS["gate"], "--no-cache",
                  "--findings-table", "t_wh_cs_locked")
        holder.stdin.close()
    refused(got, "--findings-table 't_wh_cs_locked'", str(db.path), "Could not set lock",
            "Another process may hold it open.")
    assert reads == []
    assert sha256(db.path) == before and db.read("t_wh_cs_locked") is None


@pytest.mark.parametrize("small", ["duckdb"], indirect=True)
def test_a_duckdb_file_open_for_writing_in_this_process_is_an_error(small):
    project, db = small
    with duckdb.connect(str(db.path)):
        got = run("gate", project, *VERBS["gate"], "--no-cache",
                  "--findings-table", "t_wh_cs_held")
    refused(got, str(db.path))
    assert db.read("t_wh_cs_held") is None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: (id, how the [lines] source is broken, what the message says). The password of the
#: session server's writer role is in every URI: it may never show.
SOURCE_FAILURES = [
    ("wrong_password", lambda uri, pw: uri.replace(pw, "not-" + pw), "refused the login"),
    ("server_down", lambda uri, pw: uri.rsplit(":", 1)[0] + f":{_free_port()}/basketguard",
     "cannot reach the PostgreSQL server"),
    ("missing_table", lambda uri, pw: uri, "does not exist"),
]


@pytest.mark.parametrize("verb", ["profile", "gate"])
@pytest.mark.parametrize("break_it, said", [pytest.param(*c[1:], id=c[0])
                                            for c in SOURCE_FAILURES])
def test_a_source_that_fails_exits_3_without_the_password(pg_server, tmp_path, verb,
                                                          break_it, said):
    password = pg_server.roles["bg_writer"]
    uri = break_it(pg_server.uri("bg_writer"), password)
    table = "t_wh_no_such_table" if said == "does not exist" else "t_wh_cs_lines"
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(LENIENT)
    (tmp_path / "p.toml").write_text(SMALL.format(
        lines=f'source = "{uri}"\ntable = "{table}"', catalog=f'source = "{uri}"\ntable = "x"'))
    extra = ["--policy", lenient, "--segment-signature", "pregnancy"] if verb == "gate" else []
    got = run(verb, tmp_path / "p.toml", "--no-cache", *extra)
    assert got.code == 3, got
    assert said in got.err
    assert password not in got.err + got.out
