"""The PostgreSQL server of the tests (:mod:`tests.pgserver`): what each role may do,
authentication, the addresses it listens on, and its life cycle.

Every connection goes through ADBC over TCP, as the engine's sources do. The
tests of kill, restart and stop run a private server of their own; the others
share the session's ``pg_server`` and name their tables uniquely.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from tests.pgserver import ADMIN, BIN_ENV, DATABASE, ROLES, PgServer

ROWS = pa.table({"customer": ["c1", "c2", "c3"], "qty": [1, 2, 3]})
#: SQLSTATE of a missing privilege.
INSUFFICIENT_PRIVILEGE = "42501"


@pytest.fixture
def adbc(pg_server):
    """``adbc_driver_manager`` (its DB-API errors), once the server is known to run."""
    import adbc_driver_manager

    return adbc_driver_manager


@pytest.fixture
def table_name(pg_server):
    """A fresh table name in the shared server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    pg_server.execute(f"DROP TABLE IF EXISTS {name}")


def _select_all(server: PgServer, table: str, role: str) -> pa.Table:
    return server.query(f"SELECT customer, qty FROM {table} ORDER BY customer", role=role)


def _denied(adbc, excinfo) -> str:
    """The message of a permission error, after checking that it is one."""
    assert isinstance(excinfo.value, adbc.ProgrammingError)
    assert excinfo.value.sqlstate == INSUFFICIENT_PRIVILEGE
    return str(excinfo.value)


# --- roles ------------------------------------------------------------------------------


def test_roles_have_passwords_and_no_superuser(pg_server):
    assert set(pg_server.roles) == {ADMIN, *ROLES}
    assert len(set(pg_server.roles.values())) == len(pg_server.roles)
    got = pg_server.query("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                          "WHERE rolname LIKE 'bg\\_%' ORDER BY rolname").to_pylist()
    assert got == [{"rolname": name, "rolsuper": name == ADMIN, "rolcreatedb": name == ADMIN,
                    "rolcreaterole": name == ADMIN} for name in sorted(pg_server.roles)]


def test_reader_selects_admin_tables_and_creates_none(pg_server, adbc, table_name):
    assert pg_server.load_arrow(table_name, ROWS) == 3
    assert _select_all(pg_server, table_name, "bg_reader").equals(ROWS)
    with pytest.raises(adbc.Error) as excinfo:
        pg_server.execute(f"CREATE TABLE {table_name}_r (a int)", role="bg_reader")
    assert "permission denied for schema public" in _denied(adbc, excinfo)
    with pytest.raises(adbc.Error) as excinfo:
        pg_server.execute(f"DROP TABLE {table_name}", role="bg_reader")
    assert "must be owner of table" in _denied(adbc, excinfo)


def test_writer_creates_and_drops_its_own_tables(pg_server, adbc, table_name):
    pg_server.load_arrow(table_name, ROWS)
    mine = f"{table_name}_w"
    assert pg_server.load_arrow(mine, ROWS, role="bg_writer") == 3
    try:
        # the default privileges of bg_writer's tables let the reader in
        assert _select_all(pg_server, mine, "bg_reader").equals(ROWS)
        assert _select_all(pg_server, table_name, "bg_writer").equals(ROWS)
        with pytest.raises(adbc.Error) as excinfo:
            pg_server.execute(f"DROP TABLE {table_name}", role="bg_writer")
        assert "must be owner of table" in _denied(adbc, excinfo)
    finally:
        pg_server.execute(f"DROP TABLE IF EXISTS {mine}", role="bg_writer")
    assert pg_server.query(f"SELECT to_regclass('{mine}') IS NULL AS gone")["gone"][0].as_py()


def test_nosel_connects_but_selects_nothing(pg_server, adbc, table_name):
    pg_server.load_arrow(table_name, ROWS)
    assert pg_server.query("SELECT current_user AS me", role="bg_nosel")["me"][0].as_py() == (
        "bg_nosel")
    with pytest.raises(adbc.Error) as excinfo:
        _select_all(pg_server, table_name, "bg_nosel")
    assert f"permission denied for table {table_name}" in _denied(adbc, excinfo)


# --- authentication and addresses -------------------------------------------------------


def test_wrong_password_is_an_authentication_error(pg_server, adbc):
    import adbc_driver_postgresql.dbapi as pg_dbapi

    wrong = "Wr0ng-" + uuid.uuid4().hex
    uri = pg_server.uri("bg_reader", password=False).replace("bg_reader@", f"bg_reader:{wrong}@")
    with pytest.raises(adbc.OperationalError) as excinfo:
        pg_dbapi.connect(uri).close()
    message = str(excinfo.value)
    assert 'password authentication failed for user "bg_reader"' in message
    assert wrong not in message
    assert pg_server.roles["bg_reader"] not in message


def test_uri_and_env_name_the_same_server(pg_server, monkeypatch):
    import adbc_driver_postgresql.dbapi as pg_dbapi

    parts = urllib.parse.urlsplit(pg_server.uri("bg_writer"))
    assert (parts.scheme, parts.hostname, parts.port) == ("postgresql", "127.0.0.1",
                                                          pg_server.port)
    assert urllib.parse.unquote(parts.password) == pg_server.roles["bg_writer"]
    assert (parts.username, parts.path) == ("bg_writer", f"/{DATABASE}")
    assert "bg_writer:" not in pg_server.uri("bg_writer", password=False)
    # libpq takes what the URI leaves out from PGHOST, PGPORT, PGUSER, PGPASSWORD...
    for key, value in pg_server.env("bg_reader").items():
        monkeypatch.setenv(key, value)
    with pg_dbapi.connect("postgresql://") as conn, conn.cursor() as cur:
        cur.execute("SELECT current_user AS me, current_database() AS db")
        assert cur.fetchall() == [("bg_reader", DATABASE)]


def _listening(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (/proc/net/tcp and tcp6)."""
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        path = Path("/proc/net") / table
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # the kernel prints each 32-bit word in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


def test_listens_on_127_0_0_1_only(pg_server):
    setting = pg_server.query("SELECT current_setting('listen_addresses') AS a")["a"][0]
    assert setting.as_py() == "127.0.0.1"
    if Path("/proc/net/tcp").is_file():
        assert _listening(pg_server.port) == {"127.0.0.1"}
    for other in ("127.0.0.2", "::1"):
        family = socket.AF_INET6 if ":" in other else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            with pytest.raises(OSError):  # refused, or no IPv6 at all
                sock.connect((other, pg_server.port))


# --- life cycle (private servers) --------------------------------------------------------


def test_kill_breaks_sessions_and_restart_brings_the_data_back(pg_server, adbc):
    server = PgServer()
    try:
        server.start()
        port = server.port
        server.load_arrow("lines", ROWS)
        server.execute("CHECKPOINT")  # commits are asynchronous: make the table survive
        with server.connect("bg_reader") as conn, conn.cursor() as cur:
            server.kill()
            assert server.pid is None and server.dir.is_dir()
            with pytest.raises(adbc.OperationalError, match="server closed the connection"):
                cur.execute("SELECT 1")
        server.restart()
        assert server.pid is not None and server.port == port
        assert _select_all(server, "lines", "bg_reader").equals(ROWS)
    finally:
        server.stop()


def test_stop_removes_the_folder_and_ends_the_postmaster(pg_server, adbc):
    import adbc_driver_postgresql.dbapi as pg_dbapi

    server = PgServer()
    try:
        with server:
            folder, pid, uri = server.dir, server.pid, server.uri()
            if os.geteuid() == 0:  # root hands the server to the postgres OS user
                status = Path(f"/proc/{pid}/status").read_text()
                uid = next(line.split()[1] for line in status.splitlines()
                           if line.startswith("Uid:"))
                assert uid == str(folder.stat().st_uid) != "0"
    finally:
        server.stop()  # idempotent
    assert not folder.exists()
    assert not Path(f"/proc/{pid}").exists()
    assert server.pid is None and server.dir is None
    with pytest.raises(adbc.OperationalError, match="Connection refused"):
        pg_dbapi.connect(uri).close()


# --- finding the binaries ----------------------------------------------------------------


def test_missing_binaries_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv(BIN_ENV, str(tmp_path))
    assert PgServer.find_bin() is None
    reason = PgServer.missing_reason()
    assert f"{BIN_ENV}={tmp_path}" in reason
    assert "apt-get install postgresql" in reason
    with pytest.raises(RuntimeError, match="not found"):
        PgServer().start()
