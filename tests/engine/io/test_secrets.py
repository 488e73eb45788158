"""Secrets of PostgreSQL URIs: redact_uri, secrets_of and scrub, and the places that show
a source (SourceSpec.path, describe(), configuration errors).

Pure functions, no server. The tables hold named cases (including the URIs that must
come back unchanged); hypothesis draws passwords of any characters, percent-encoded as a
URI needs them.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from basketguard.engine.config.project import SourceSpec, project_from_dict
from basketguard.engine.errors import BasketguardError, ConfigError
from basketguard.engine.io.secrets import MASK, redact_uri, scrub, secrets_of
from basketguard.engine.io.sources import open_source

#: (id, uri, redacted[, xfail mark]).
REDACT = [
    ("user_password", "postgresql://ana:s3cret@db.example.com:5432/shop",
     "postgresql://ana:***@db.example.com:5432/shop"),
    ("postgres_scheme", "postgres://ana:s3cret@db/shop", "postgres://ana:***@db/shop"),
    ("encoded_password", "postgresql://ana:p%40ss%3Aw%2Fd%23@db/shop",
     "postgresql://ana:***@db/shop"),
    ("colon_in_password", "postgresql://ana:pa:ss@db/shop", "postgresql://ana:***@db/shop"),
    ("at_in_password", "postgresql://ana:p@ss@db/shop", "postgresql://ana:***@db/shop"),
    ("empty_password", "postgresql://ana:@db/shop", "postgresql://ana:***@db/shop"),
    ("query_password", "postgresql://ana@db/shop?password=s3cret",
     "postgresql://ana@db/shop?password=***"),
    ("query_password_among_others",
     "postgresql://ana@db/shop?sslmode=require&password=s3cret&connect_timeout=10",
     "postgresql://ana@db/shop?sslmode=require&password=***&connect_timeout=10"),
    ("query_sslpassword", "postgresql://ana@db/shop?sslmode=verify-full&sslpassword=k3y",
     "postgresql://ana@db/shop?sslmode=verify-full&sslpassword=***"),
    ("both_places", "postgresql://ana:one@db/shop?password=two",
     "postgresql://ana:***@db/shop?password=***"),
    ("multi_host", "postgresql://ana:pw@h1:5432,h2:5433/shop",
     "postgresql://ana:***@h1:5432,h2:5433/shop"),
    ("ipv6", "postgresql://ana:pw@[::1]:5432/shop", "postgresql://ana:***@[::1]:5432/shop"),
    ("socket_host_param", "postgresql://ana:pw@/shop?host=/var/run/postgresql",
     "postgresql://ana:***@/shop?host=/var/run/postgresql"),
    ("unbalanced_bracket", "postgresql://ana:pw@[::1/shop", "postgresql://ana:***@[::1/shop"),
    # unchanged: nothing secret in them
    ("no_password", "postgresql://ana@db.example.com:5432/shop",
     "postgresql://ana@db.example.com:5432/shop"),
    ("no_user", "postgresql://db.example.com/shop", "postgresql://db.example.com/shop"),
    ("plain_params", "postgresql://ana@db/shop?sslmode=require&application_name=bg",
     "postgresql://ana@db/shop?sslmode=require&application_name=bg"),
    ("passfile_param", "postgresql://ana@db/shop?passfile=/home/ana/.pgpass",
     "postgresql://ana@db/shop?passfile=/home/ana/.pgpass"),
    # shown as written (libpq's reading), nothing re-encoded
    ("empty_uri", "postgresql://", "postgresql://"),
    ("empty_host", "postgresql:///shop", "postgresql:///shop"),
    ("encoded_param_kept", "postgresql://ana@db/shop?application_name=a%20b",
     "postgresql://ana@db/shop?application_name=a%20b"),
    ("hash_in_password", "postgresql://ana:se#cret@db/shop", "postgresql://ana:***@db/shop"),
    ("question_mark_in_password", "postgresql://ana:se?cret@db/shop?sslmode=require",
     "postgresql://ana:***@db/shop?sslmode=require"),
]


def _unwrap(cases):
    return [pytest.param(*c[1:3], id=c[0], marks=c[3:]) for c in cases]


@pytest.mark.parametrize(("uri", "redacted"), _unwrap(REDACT))
def test_redact_uri(uri, redacted):
    assert redact_uri(uri) == redacted


#: (id, uri, the password written in it[, xfail mark]): it may not show. libpq takes
#: '#', '?' and ':' in a password as written (a real login succeeds with them).
UNENCODED = [
    ("colon", "postgresql://ana:pa:ss77@db/shop", "pa:ss77"),
    ("percent_invalid", "postgresql://ana:p%zz77@db/shop", "p%zz77"),
    ("hash", "postgresql://ana:se#cret77@db/shop", "se#cret77"),
    ("question_mark", "postgresql://ana:se?cret77@db/shop", "se?cret77"),
    ("hash_in_query", "postgresql://ana@db/shop?password=se#cret77", "se#cret77"),
]


@pytest.mark.parametrize("uri", [
    pytest.param("postgresql://ana:se/cret77@db/shop", id="slash"),
    pytest.param("postgresql://ana:p@ss77@db/shop", id="at"),
])
def test_password_libpq_would_misread_is_refused_without_showing_it(uri):
    # libpq ends the password at the first '/' or '@' and shows the rest as a host or port
    with pytest.raises(ConfigError, match="Percent-encode") as info:
        _pg_spec(uri)
    for piece in ("cret77", "ss77"):
        assert piece not in str(info.value)


@pytest.mark.parametrize(("uri", "password"), _unwrap(UNENCODED))
def test_unencoded_password_never_shows(monkeypatch, uri, password):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert password not in redact_uri(uri)
    assert password not in scrub(f'bad value "{password}" in {uri}', uri)
    spec = _pg_spec(uri)
    assert password not in str(spec.path)
    assert password not in str(spec.describe())


#: (id, uri, the secrets it holds, longest first).
SECRETS = [
    ("user_part", "postgresql://ana:s3cret@db/shop", ["s3cret"]),
    ("encoded", "postgresql://ana:p%40ss@db/shop", ["p%40ss", "p@ss"]),
    ("query", "postgresql://ana@db/shop?password=a%2Fb", ["a%2Fb", "a/b"]),
    ("query_ssl", "postgresql://db/shop?sslpassword=k3y", ["k3y"]),
    ("none", "postgresql://ana@db/shop?sslmode=require", []),
    ("empty_password", "postgresql://ana:@db/shop?password=", []),
]


@pytest.mark.parametrize(("uri", "found"), _unwrap(SECRETS))
def test_secrets_of(monkeypatch, uri, found):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert sorted(secrets_of(uri)) == sorted(found)
    assert [len(s) for s in secrets_of(uri)] == sorted((len(s) for s in found), reverse=True)


def test_query_password_with_a_plus_is_a_secret_as_libpq_reads_it(monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    uri = "postgresql://ana@db/shop?password=a+b%zz"
    assert "a+b%zz" in secrets_of(uri)
    assert "a+b%zz" not in scrub('invalid percent-encoded token: "a+b%zz"', uri)


def test_secrets_of_adds_pgpassword(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-env-9")
    assert secrets_of("postgresql://") == ["from-env-9"]
    assert "from-env-9" in secrets_of("postgresql://ana:s3cret@db/shop")


#: (id, uri, PGPASSWORD or None, a driver message, what must not remain).
SCRUB = [
    ("raw", "postgresql://ana:s3cret@db/shop", None,
     'invalid percent-encoded token: "s3cret"', ["s3cret"]),
    ("decoded", "postgresql://ana:p%40ss@db/shop", None,
     "password p@ss rejected, p%40ss too", ["p@ss", "p%40ss"]),
    ("query_decoded", "postgresql://ana@db/shop?password=a%2Fb", None,
     "saw a/b and a%2Fb", ["a/b", "a%2Fb"]),
    ("whole_uri", "postgresql://ana:s3cret@db/shop", None,
     'missing "=" after "postgresql://ana:s3cret@db/shop" in connection info string',
     ["s3cret"]),
    ("pgpassword", "postgresql://", "env-S3cret", "something said env-S3cret", ["env-S3cret"]),
]


@pytest.mark.parametrize(("uri", "env", "text", "gone"),
                         [pytest.param(*c[1:], id=c[0]) for c in SCRUB])
def test_scrub(monkeypatch, uri, env, text, gone):
    if env is None:
        monkeypatch.delenv("PGPASSWORD", raising=False)
    else:
        monkeypatch.setenv("PGPASSWORD", env)
    out = scrub(text, uri)
    for secret in gone:
        assert secret not in out
    assert MASK in out


def test_scrub_shows_the_uri_redacted(monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    uri = "postgresql://ana:s3cret@db/shop"
    assert scrub(f"cannot use {uri}", uri) == "cannot use postgresql://ana:***@db/shop"


def test_scrub_leaves_a_message_without_secrets(monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    text = 'connection to server at "db", port 5432 failed: Connection refused'
    assert scrub(text, "postgresql://ana@db/shop") == text
    assert scrub(text, "") == text


# --- hypothesis ---------------------------------------------------------------------------

_PASSWORD = st.text(st.characters(codec="utf-8", exclude_characters="*"), min_size=1,
                    max_size=24)
_NAME = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)


def _uri(user: str, password: str, host: str, db: str, in_query: bool,
         encode: bool = True) -> str:
    secret = urllib.parse.quote(password, safe="") if encode else password
    if in_query:
        return f"postgresql://{user}@{host}:5432/{db}?sslmode=require&password={secret}"
    return f"postgresql://{user}:{secret}@{host}:5432/{db}"


def _forms(password: str) -> list[str]:
    """The password as written and percent-encoded."""
    return [password, urllib.parse.quote(password, safe="")]


def _template(user: str, host: str, db: str, in_query: bool) -> str:
    """The URI with the mask where the password goes: what redact_uri must give."""
    return _uri(user, MASK, host, db, in_query, encode=False)


@given(user=_NAME, password=_PASSWORD, host=_NAME, db=_NAME, in_query=st.booleans())
def test_redacted_uri_holds_no_form_of_the_password(user, password, host, db, in_query):
    uri = _uri(user, password, host, db, in_query)
    template = _template(user, host, db, in_query)
    assume(not any(form in template for form in _forms(password)))
    assert redact_uri(uri) == template
    assert set(_forms(password)) <= set(secrets_of(uri))


@given(user=_NAME, password=_PASSWORD, host=_NAME, db=_NAME, in_query=st.booleans())
def test_scrubbed_text_holds_no_form_of_the_password(user, password, host, db, in_query):
    uri = _uri(user, password, host, db, in_query)
    assume(not any(form in _template(user, host, db, in_query) for form in _forms(password)))
    text = f"failed for {password} ({urllib.parse.quote(password, safe='')}) at {uri}"
    out = scrub(text, uri)
    for form in _forms(password):
        assert form not in out


@given(user=_NAME, host=_NAME, db=_NAME,
       params=st.lists(st.tuples(st.sampled_from(["sslmode", "application_name",
                                                  "connect_timeout", "target_session_attrs"]),
                                 st.text("abcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=8)),
                       max_size=3),
       port=st.one_of(st.none(), st.integers(1, 65535)))
def test_uri_without_password_is_unchanged(user, host, db, params, port):
    netloc = f"{user}@{host}" + (f":{port}" if port else "")
    query = "&".join(f"{k}={v}" for k, v in params)
    uri = f"postgresql://{netloc}/{db}" + (f"?{query}" if query else "")
    assert redact_uri(uri) == uri


def _pg_spec(uri: str) -> SourceSpec:
    return SourceSpec(role="lines", location=uri, base_dir=Path("."), format="postgresql",
                      table="lines", origin="shop.toml [lines]")


@given(user=_NAME, password=_PASSWORD, host=_NAME, db=_NAME, in_query=st.booleans())
def test_spec_path_and_describe_hold_no_password(user, password, host, db, in_query):
    uri = _uri(user, password, host, db, in_query)
    masked = _pg_spec(_template(user, host, db, in_query))  # what must be shown
    assume(not any(form in str(masked.describe()) for form in _forms(password)))
    spec = _pg_spec(uri)
    assert spec.describe() == masked.describe()
    shown = [str(spec.path), str(spec.describe())]
    for text in shown:
        for form in _forms(password):
            assert form not in text
    assert spec.location == uri  # what libpq gets is the URI as written


def test_spec_repr_holds_no_password():
    spec = _pg_spec("postgresql://ana:Sekr1t-Pw-77@db.invalid/shop")
    assert "Sekr1t-Pw-77" not in repr(spec)


# --- configuration mistakes that show the source -------------------------------------------

COLUMNS = {"customer": "c", "item": "i", "time": "t"}
SECRET = "Sekr1t-Pw-77"
URI = f"postgresql://ana:{SECRET}@db.invalid/shop"


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param({"source": URI, "columns": COLUMNS}, id="neither_table_nor_query"),
        pytest.param({"source": URI, "table": "a", "query": "b", "columns": COLUMNS},
                     id="table_and_query"),
        pytest.param({"source": URI, "table": "a", "columns": COLUMNS, "tabel": "x"},
                     id="unknown_key"),
        pytest.param({"source": URI, "table": "a", "columns": {"customer": "c"}},
                     id="unmapped_role"),
        pytest.param({"source": URI, "table": "a", "filter": "x >", "columns": COLUMNS},
                     id="bad_filter"),
        pytest.param({"source": URI, "table": "a", "change_column": " ", "columns": COLUMNS},
                     id="empty_change_column"),
        pytest.param({"source": [URI], "table": "a", "columns": COLUMNS}, id="source_list"),
        pytest.param({"source": URI, "format": "parquet", "columns": COLUMNS},
                     id="uri_with_file_format"),
    ],
)
def test_configuration_errors_hold_no_password(tmp_path, lines):
    with pytest.raises(BasketguardError) as info:
        project = project_from_dict({"lines": lines}, base_dir=tmp_path, origin="shop.toml")
        open_source(project.lines)
    assert SECRET not in str(info.value)


def test_spec_of_a_file_refuses_password_file(tmp_path):
    with pytest.raises(BasketguardError, match="password_file"):
        SourceSpec(role="lines", location="lines.parquet", base_dir=tmp_path,
                   format="parquet", password_file=tmp_path / "pgpass")


def test_postgresql_spec_needs_a_uri(tmp_path):
    with pytest.raises(BasketguardError, match="connection URI"):
        SourceSpec(role="lines", location="db.example.com/shop", base_dir=tmp_path,
                   format="postgresql", table="lines")
