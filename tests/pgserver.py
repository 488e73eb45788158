"""A real, throw-away PostgreSQL server for the tests and the benchmarks.

:class:`PgServer` runs the machine's own PostgreSQL server binaries (Debian's
``postgresql`` package: ``/usr/lib/postgresql/<major>/bin``) on a fresh cluster
in a temporary folder, and removes it all again::

    with PgServer() as server:
        server.load_arrow("lines", table)
        uri = server.uri("bg_reader")   # postgresql://bg_reader:...@127.0.0.1:PORT/basketguard

The tests get one server for the whole session from the ``pg_server`` fixture
(``tests/conftest.py``), which skips the tests when the binaries are missing
(:meth:`PgServer.missing_reason` says what to install) and fails them under CI,
where ``.ci/run`` installs the package.

The cluster
-----------
- ``initdb --auth-local=trust --auth-host=scram-sha-256 -U bg_admin``, UTF8,
  locale C (server messages are in English), time zone UTC.
- TCP on ``127.0.0.1`` only, on a free port (another one is tried when the port
  is taken between choosing and binding it); the unix socket lives in the
  temporary folder (mode 0700), so the ``trust`` of local connections reaches
  only its owner.
- ``fsync``, ``full_page_writes`` and ``synchronous_commit`` off, WAL level
  minimal: fast, and not crash-safe. Commits of the last moment before
  :meth:`PgServer.kill` may be lost; run ``CHECKPOINT`` first when a table must
  survive it.
- Database ``basketguard`` owned by the superuser ``bg_admin``, and three login
  roles without superuser rights (:data:`ROLES`), each with a generated password
  (:attr:`PgServer.roles`): ``bg_reader`` may connect and SELECT every table of
  schema ``public``, present and future; ``bg_writer`` may also create (and so
  drop) its own tables there; ``bg_nosel`` may connect and reads nothing. The
  default privileges cover tables created by ``bg_admin`` and by ``bg_writer``.

Processes
---------
As root, ``initdb`` and ``postgres`` (which refuse to run as root) run as the
``postgres`` OS user, owner of the temporary folder; as any other user they run
as that user. The postmaster is a direct child of this process, started with
the parent-death signal SIGQUIT (Linux ``PR_SET_PDEATHSIG``), so it shuts down
at once when the process that started it dies, even by SIGKILL; an ``atexit``
handler stops every server still running at a normal exit (a failed test run,
KeyboardInterrupt) and removes its folder. The parent-death signal follows the
*thread* that called :meth:`PgServer.start`: start servers from a thread that
outlives them (the main thread, in pytest and in a benchmark script).

Stopping sends the postmaster the signal of a PostgreSQL shutdown mode (what
``pg_ctl stop -m MODE`` sends): ``smart`` SIGTERM, ``fast`` SIGINT,
``immediate`` SIGQUIT.

Connections for the setup helpers (:meth:`PgServer.execute`,
:meth:`PgServer.query`, :meth:`PgServer.load_arrow`) go through
``adbc_driver_postgresql.dbapi`` over TCP with a password, as the engine's do.
The ADBC driver is imported only when a connection is made, so this module
imports without it.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: Environment variable naming the folder of the server binaries.
BIN_ENV = "BASKETGUARD_PG_BIN"
#: The server binaries this module runs.
BINARIES = ("initdb", "postgres")
#: Where Debian's packages put them (one folder per major version).
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
#: How a developer gets them.
INSTALL = ("install Debian's `postgresql` package (`apt-get install postgresql`) "
           f"or set {BIN_ENV} to their folder")

#: The superuser created by initdb.
ADMIN = "bg_admin"
#: The database the roles are granted on.
DATABASE = "basketguard"
#: The login roles without superuser rights, with what each may do.
ROLES = {
    "bg_reader": "CONNECT; USAGE on schema public; SELECT on all its tables, present and future",
    "bg_writer": "as bg_reader, plus CREATE on schema public and TEMPORARY tables",
    "bg_nosel": "CONNECT and USAGE on schema public only: no SELECT on anything",
}
#: The OS user that runs the server when this process is root.
OS_USER = "postgres"
#: Server settings of every cluster (``PgServer(settings=...)`` overrides or adds).
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "128MB",
    "jit": "off",
    "timezone": "UTC",
    "log_timezone": "UTC",
    "logging_collector": "off",
}
#: Shutdown mode -> the signal the postmaster takes for it.
STOP_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}

#: Folder names start with this (``.ci/run`` finds leftovers by it).
DIR_PREFIX = "basketguard-pg-"
_SOCKET_MAX = 107  # sun_path is 108 bytes with its NUL
_PORT_TRIES = 5
_BIND_FAILED = re.compile(r"could not bind|could not create any TCP/IP sockets|already in use")
_PR_SET_PDEATHSIG = 1


class PgServerError(RuntimeError):
    """The server could not be set up, started or stopped; the message says why."""


def _version_key(folder: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/15/bin -> (15,); folders that are not versions sort first
    return tuple(int(p) for p in re.findall(r"\d+", folder.parent.name)) or (-1,)


def _has_binaries(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in BINARIES)


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _missing(folder: Path | None, given: str | None) -> str | None:
    """What :meth:`PgServer.missing_reason` says, for a folder of binaries (None: not found)."""
    names = ", ".join(BINARIES)
    if given is not None and (folder is None or not _has_binaries(folder)):
        return (f"PostgreSQL server binaries ({names}) not found in {given}: point it at "
                "their folder, or install Debian's `postgresql` package "
                "(`apt-get install postgresql`)")
    if folder is None or not _has_binaries(folder):
        return f"PostgreSQL server binaries not found ({names}): {INSTALL}"
    if _running_as_root():
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return (f"running as root, but the OS user `{OS_USER}` that runs the server "
                    "does not exist: install Debian's `postgresql` package, which creates "
                    "it, or run the tests as a user other than root")
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return ("the ADBC PostgreSQL driver is not installed: "
                "`pip install adbc-driver-postgresql` (in the `test` extra)")
    return None


class PgServer:
    """A PostgreSQL server on a fresh cluster in a temporary folder.

    ``__init__`` only stores the parameters; :meth:`start` (or ``with``) makes
    the cluster and runs the server, :meth:`stop` ends it and removes the folder.

    Parameters
    ----------
    bin_dir : str or Path, optional
        Folder of ``initdb`` and ``postgres``; :meth:`find_bin` by default.
    settings : Mapping[str, str], optional
        Server settings added to (or replacing) :data:`SETTINGS`, written to the
        cluster's configuration, e.g. ``{"shared_buffers": "1GB"}`` for a
        benchmark. Values are written as given inside single quotes.
    timeout : float
        Seconds to wait for ``initdb``, for the server to accept connections and
        for it to stop.

    Attributes
    ----------
    roles : dict[str, str]
        Role name -> password, for ``bg_admin`` and every role of :data:`ROLES`
        (filled by :meth:`start`).
    port : int or None
        TCP port on 127.0.0.1 while running. :meth:`restart` keeps it unless it
        was taken meanwhile.
    dir : Path or None
        The temporary folder (cluster in ``data/``, server log, unix socket).
    pid : int or None
        Process id of the postmaster while running.
    """

    def __init__(self, bin_dir: str | Path | None = None,
                 settings: Mapping[str, str] | None = None, timeout: float = 30.0) -> None:
        self.bin_dir = bin_dir
        self.settings = settings
        self.timeout = timeout
        self.roles: dict[str, str] = {}
        self.port: int | None = None
        self.dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner_pid = os.getpid()

    # --- finding the binaries ----------------------------------------------------------

    @staticmethod
    def find_bin() -> Path | None:
        """Folder of the PostgreSQL server binaries, or None.

        Looks at ``$BASKETGUARD_PG_BIN`` when set (and nowhere else then), else
        at the folder of ``initdb`` on the PATH (symlinks resolved, so
        ``postgres`` is taken from the same installation), else at the highest
        version of ``/usr/lib/postgresql/*/bin``.

        Returns
        -------
        Path or None
            A folder holding executable ``initdb`` and ``postgres``.
        """
        given = os.environ.get(BIN_ENV)
        if given:
            return Path(given) if _has_binaries(Path(given)) else None
        on_path = shutil.which("initdb")
        if on_path:
            folder = Path(os.path.realpath(on_path)).parent
            if _has_binaries(folder):
                return folder
        for folder in sorted(Path("/").glob(DEBIAN_GLOB.lstrip("/")), key=_version_key,
                             reverse=True):
            if _has_binaries(folder):
                return folder
        return None

    @staticmethod
    def missing_reason() -> str | None:
        """What this machine lacks to run a server, as one sentence; None when nothing.

        Returns
        -------
        str or None
            Which of the server binaries, the ``postgres`` OS user (needed as
            root) or the ADBC driver is missing, and how to install it.
        """
        given = os.environ.get(BIN_ENV)
        return _missing(PgServer.find_bin() if not given else Path(given),
                        f"{BIN_ENV}={given}" if given else None)

    # --- connecting ----------------------------------------------------------------------

    def uri(self, role: str = ADMIN, db: str = DATABASE, password: bool = True) -> str:
        """A libpq connection URI for a role, over TCP to 127.0.0.1.

        Parameters
        ----------
        role : str
            ``bg_admin`` or a role of :data:`ROLES`.
        db : str
            Database name.
        password : bool
            Put the role's password in the URI (percent-encoded, as the role
            name and database are).

        Returns
        -------
        str
            ``postgresql://role:password@127.0.0.1:PORT/db``.
        """
        port = self._running_port()
        user = urllib.parse.quote(role, safe="")
        if password:
            user += ":" + urllib.parse.quote(self._password(role), safe="")
        return f"postgresql://{user}@127.0.0.1:{port}/{urllib.parse.quote(db, safe='')}"

    def env(self, role: str = ADMIN, db: str = DATABASE) -> dict[str, str]:
        """libpq environment variables that connect as a role.

        Parameters
        ----------
        role : str
            ``bg_admin`` or a role of :data:`ROLES`.
        db : str
            Database name.

        Returns
        -------
        dict[str, str]
            ``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGDATABASE``, ``PGPASSWORD``.
        """
        return {"PGHOST": "127.0.0.1", "PGPORT": str(self._running_port()), "PGUSER": role,
                "PGDATABASE": db, "PGPASSWORD": self._password(role)}

    def connect(self, role: str = ADMIN, db: str = DATABASE, autocommit: bool = True) -> Any:
        """An ADBC DB-API connection (``adbc_driver_postgresql.dbapi``) as a role.

        Parameters
        ----------
        role : str
            ``bg_admin`` or a role of :data:`ROLES`.
        db : str
            Database name.
        autocommit : bool
            Commit after each statement.

        Returns
        -------
        adbc_driver_manager.dbapi.Connection
            Close it (``with server.connect() as conn:``).
        """
        import adbc_driver_postgresql.dbapi as pg_dbapi

        return pg_dbapi.connect(self.uri(role, db), autocommit=autocommit)

    def execute(self, sql: str, role: str = ADMIN, db: str = DATABASE) -> None:
        """Run one SQL statement on a new autocommit connection.

        Parameters
        ----------
        sql : str
            One statement (the driver runs each as a prepared statement, which
            holds one).
        role : str
            ``bg_admin`` or a role of :data:`ROLES`.
        db : str
            Database name.
        """
        with self.connect(role, db) as conn, conn.cursor() as cur:
            cur.execute(sql)

    def query(self, sql: str, role: str = ADMIN, db: str = DATABASE) -> pa.Table:
        """Run one SQL query on a new autocommit connection.

        Parameters
        ----------
        sql : str
            One query.
        role : str
            ``bg_admin`` or a role of :data:`ROLES`.
        db : str
            Database name.

        Returns
        -------
        pyarrow.Table
            Its result.
        """
        with self.connect(role, db) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()

    def load_arrow(self, table_name: str, table: pa.Table, role: str = ADMIN,
                   db: str = DATABASE) -> int:
        """Create a table from an Arrow table and fill it (ADBC bulk ingest, COPY).

        The readers may SELECT it at once: the default privileges cover tables
        created by ``bg_admin`` and ``bg_writer``.

        Parameters
        ----------
        table_name : str
            Name of the new table in schema ``public``; it must not exist.
        table : pyarrow.Table or pyarrow.RecordBatchReader
            The rows; column types map as the ADBC driver maps them.
        role : str
            ``bg_admin`` or ``bg_writer``.
        db : str
            Database name.

        Returns
        -------
        int
            Rows written.
        """
        with self.connect(role, db) as conn, conn.cursor() as cur:
            return cur.adbc_ingest(table_name, table, mode="create")

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> PgServer:
        """Make a fresh cluster, run the server and create the database and roles.

        Returns
        -------
        PgServer
            ``self``, accepting connections on :attr:`port`.

        Raises
        ------
        PgServerError
            With what is missing (:meth:`missing_reason`), the output of a failed
            ``initdb``, or the tail of the server log when the server did not
            start within ``timeout``.
        """
        if self.dir is not None:
            raise PgServerError(f"this PgServer is already started (folder {self.dir})")
        if self.bin_dir is None:
            self._bin = self.find_bin()
            reason = self.missing_reason()
        else:
            self._bin = Path(self.bin_dir)
            reason = _missing(self._bin, f"bin_dir={self.bin_dir}")
        if reason:
            raise PgServerError(reason)
        self._user = pwd.getpwnam(OS_USER) if _running_as_root() else None
        self._owner_pid = os.getpid()
        self.dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
        _LIVE.add(self)
        try:
            self._check_folder()
            self.roles = {name: secrets.token_urlsafe(18) for name in (ADMIN, *ROLES)}
            self._initdb()
            self._run_postmaster(port=None)
            self._create_database_and_roles()
        except BaseException:
            self.stop("immediate")
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server and remove the temporary folder; does nothing when stopped.

        Parameters
        ----------
        mode : {"fast", "smart", "immediate"}
            PostgreSQL's shutdown mode: ``fast`` ends the sessions (rolling back
            their transactions), ``smart`` waits for them to disconnect,
            ``immediate`` quits at once without a checkpoint.
        """
        try:
            self._stop_postmaster(mode)
        finally:
            if self.dir is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            self.port = None
            _LIVE.discard(self)

    def kill(self) -> None:
        """Quit the server at once (immediate shutdown), keeping the cluster.

        Every session's connection breaks, as when a server dies mid-read;
        :meth:`restart` brings it back (with crash recovery). Commits of the
        last moment may be lost (``synchronous_commit=off``).
        """
        self._stop_postmaster("immediate")

    def restart(self, mode: str = "fast") -> PgServer:
        """Stop the server if it runs and start it again on the same cluster.

        Parameters
        ----------
        mode : {"fast", "smart", "immediate"}
            How to stop it first (see :meth:`stop`).

        Returns
        -------
        PgServer
            ``self``; on the same :attr:`port` unless another process took it
            meanwhile, so take :meth:`uri` again after a restart.
        """
        if self.dir is None:
            raise PgServerError("this PgServer was stopped (its folder is gone): start() it")
        self._stop_postmaster(mode)
        self._run_postmaster(port=self.port)
        return self

    @property
    def pid(self) -> int | None:
        """Process id of the postmaster, None when it is not running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def log_path(self) -> Path | None:
        """The server log (stderr of the postmaster), in the temporary folder."""
        return self.dir / "server.log" if self.dir is not None else None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log ('' when there is none).

        Parameters
        ----------
        lines : int
            How many.

        Returns
        -------
        str
        """
        if self.log_path is None or not self.log_path.is_file():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"port {self.port}, pid {self.pid}" if self.pid else "stopped"
        return f"PgServer({state}, dir={self.dir})"

    # --- internals -----------------------------------------------------------------------

    def _password(self, role: str) -> str:
        if role not in self.roles:
            known = ", ".join(self.roles) or "none: start() the server first"
            raise KeyError(f"unknown role {role!r} (known: {known})")
        return self.roles[role]

    def _running_port(self) -> int:
        if self.port is None:
            raise PgServerError("the server is not running: start() it first")
        return self.port

    @property
    def _data(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    def _check_folder(self) -> None:
        assert self.dir is not None
        socket_path = self.dir / ".s.PGSQL.65535"
        if len(os.fsencode(socket_path)) > _SOCKET_MAX:
            raise PgServerError(f"temporary folder {self.dir} is too long a path for the "
                                "server's unix socket: set TMPDIR to a shorter folder")
        if self._user is None:
            return
        os.chown(self.dir, self._user.pw_uid, self._user.pw_gid)
        # The postgres user must reach the folder: every parent searchable by others.
        for parent in self.dir.parents:
            if not parent.stat().st_mode & stat.S_IXOTH:
                raise PgServerError(f"the `{OS_USER}` OS user cannot enter {parent} "
                                    f"(parent of the temporary folder {self.dir}): set TMPDIR "
                                    "to a folder others may traverse, such as /tmp")

    def _run(self, args: list[str], what: str) -> None:
        kwargs = self._as_user()
        try:
            done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                                  env=self._child_env(), timeout=self.timeout, check=False,
                                  **kwargs)
        except subprocess.TimeoutExpired as exc:
            raise PgServerError(f"{what} did not finish within {self.timeout} s") from exc
        if done.returncode != 0:
            out = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise PgServerError(f"{what} failed (exit {done.returncode}):\n{out}")

    def _as_user(self) -> dict[str, Any]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}

    def _child_env(self) -> dict[str, str]:
        # PG* variables of the caller (PGDATA, PGPORT, PGHOST...) would steer the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self._user is not None:
            env.update(HOME=self._user.pw_dir, USER=OS_USER, LOGNAME=OS_USER)
        return env

    def _initdb(self) -> None:
        assert self.dir is not None
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.roles[ADMIN] + "\n")
        pwfile.chmod(0o600)
        if self._user is not None:
            os.chown(pwfile, self._user.pw_uid, self._user.pw_gid)
        try:
            self._run([str(self._bin / "initdb"), "-D", str(self._data), "-U", ADMIN,
                       f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                       "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                      "initdb")
        finally:
            pwfile.unlink(missing_ok=True)
        with (self._data / "postgresql.conf").open("a") as conf:
            conf.write("\n# basketguard tests: settings of tests/pgserver.py\n"
                       "include 'basketguard.conf'\n")

    def _write_settings(self, port: int) -> None:
        assert self.dir is not None
        values = {**SETTINGS, **(self.settings or {}), "port": str(port),
                  "unix_socket_directories": str(self.dir)}
        lines = [f"{key} = '{value}'" for key, value in values.items()]
        path = self._data / "basketguard.conf"
        path.write_text("\n".join(lines) + "\n")
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _run_postmaster(self, port: int | None) -> None:
        for attempt in range(_PORT_TRIES):
            chosen = port if port is not None and attempt == 0 else _free_port()
            self._write_settings(chosen)
            if self._spawn_and_wait():
                self.port = chosen
                return
        raise PgServerError(f"the server found no free port in {_PORT_TRIES} tries; "
                            f"server log ends:\n{self.log_tail()}")

    def _spawn_and_wait(self) -> bool:
        """Run the postmaster and wait until it is ready; False when its port was taken."""
        assert self.log_path is not None
        with self.log_path.open("ab") as log:
            start = log.tell()
            self._proc = subprocess.Popen(
                [str(self._bin / "postgres"), "-D", str(self._data)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self._child_env(), start_new_session=True, preexec_fn=_die_with_parent,
                **self._as_user())
        deadline = time.monotonic() + self.timeout
        pidfile = self._data / "postmaster.pid"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                with self.log_path.open("rb") as log:
                    log.seek(start)
                    text = log.read().decode(errors="replace")
                if _BIND_FAILED.search(text):
                    return False
                raise PgServerError(f"the server exited while starting; server log ends:\n"
                                    f"{self.log_tail()}")
            with contextlib.suppress(OSError):
                status = pidfile.read_text().splitlines()
                # line 8 of postmaster.pid is the status: "starting", then "ready"
                if len(status) >= 8 and status[7].strip() == "ready":
                    return True
            time.sleep(0.02)
        self._stop_postmaster("immediate")
        raise PgServerError(f"the server did not accept connections within {self.timeout} s; "
                            f"server log ends:\n{self.log_tail()}")

    def _stop_postmaster(self, mode: str) -> None:
        if mode not in STOP_SIGNALS:
            raise ValueError(f"unknown shutdown mode {mode!r}: one of {', '.join(STOP_SIGNALS)}")
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(STOP_SIGNALS[mode])
            try:
                proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                # Its sessions notice the postmaster's death and exit by themselves.
                proc.kill()
                proc.wait(self.timeout)
                raise PgServerError(f"the server did not stop ({mode}) within {self.timeout} s "
                                    "and was killed") from None

    def _create_database_and_roles(self) -> None:
        readers = "bg_reader, bg_writer"
        everyone = "bg_reader, bg_writer, bg_nosel"
        # Two connections (each costs ~70 ms: SCRAM, and the driver's type lookup).
        with self.connect(ADMIN, "postgres") as conn, conn.cursor() as cur:
            for role in ROLES:
                password = self.roles[role].replace("'", "''")
                cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            cur.execute(f"CREATE DATABASE {DATABASE}")
        statements = [
            f"REVOKE ALL ON DATABASE {DATABASE} FROM PUBLIC",
            f"GRANT CONNECT ON DATABASE {DATABASE} TO {everyone}",
            f"GRANT TEMPORARY ON DATABASE {DATABASE} TO bg_writer",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA public TO {everyone}",
            "GRANT CREATE ON SCHEMA public TO bg_writer",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {readers}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {ADMIN} IN SCHEMA public "
            f"GRANT SELECT ON TABLES TO {readers}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE bg_writer IN SCHEMA public "
            "GRANT SELECT ON TABLES TO bg_reader",
        ]
        with self.connect(ADMIN, DATABASE) as conn, conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    # In the child, after the switch to the postgres user (which would clear it).
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGQUIT), 0, 0, 0)


#: Servers started by this process and not stopped yet.
_LIVE: set[PgServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        if server._owner_pid == os.getpid():
            with contextlib.suppress(Exception):
                server.stop("immediate")
