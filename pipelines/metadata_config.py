"""ML Metadata connection from one config string: a SQLite file path or a PostgreSQL URL.

    connection_config("/home/me/pipeline/metadata.sqlite")       # SQLite (the quick default)
    connection_config("postgresql://mlmd@db.internal:5432/mlmd")   # a server (production TFX)
    connection_config("postgresql://mlmd:s3cret@10.0.0.5/mlmd?sslmode=require")
    connection_config("postgresql://mlmd@/mlmd?host=/run/postgresql")   # over a unix socket

PostgreSQL URLs follow libpq's form: user, password (percent-encoded), host, port (default 5432;
over a unix socket it names the socket file) and database (required); query parameters `host`
(a unix socket directory, for an empty netloc host), `hostaddr`, `passfile`, `sslmode`, `sslcert`, `sslkey`, `sslrootcert`,
`sslpassword`, and `skip_db_creation=true` (MLMD otherwise creates the database on first use).
`redacted(spec)` is the spec without its password, for logs.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from vistflow.errors import VistflowError

POSTGRES_SCHEMES = ("postgresql", "postgres")
_SSL_KEYS = ("sslmode", "sslcert", "sslkey", "sslrootcert", "sslpassword")
_QUERY_KEYS = ("host", "hostaddr", "passfile", "skip_db_creation", *_SSL_KEYS)


def connection_config(spec: str, *, read_only: bool = False):
    """`metadata_store_pb2.ConnectionConfig` for a SQLite path or a `postgresql://` URL.

    read_only: SQLite only (opened READONLY, as lineage queries do); a server connection's
    rights are the database user's.
    """
    from ml_metadata.proto import metadata_store_pb2 as pb

    spec = (spec or "").strip()
    if not spec:
        raise VistflowError("ML Metadata connection: empty (a SQLite path or a postgresql:// URL)")
    config = pb.ConnectionConfig()
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in POSTGRES_SCHEMES:
        config.postgresql.CopyFrom(_postgresql(spec, pb))
        return config
    if scheme == "sqlite":  # sqlite:///abs/path (three slashes: an empty host)
        spec = unquote(urlsplit(spec).path)
    elif scheme:
        raise VistflowError(
            f"ML Metadata connection {redacted(spec)!r}: unsupported scheme {scheme!r} "
            "(a local SQLite path, sqlite:///path or postgresql://user@host:port/database)"
        )
    if not read_only:  # as TFX's sqlite_metadata_connection_config: a new root has no dir yet
        import os

        os.makedirs(os.path.dirname(os.path.abspath(spec)), exist_ok=True)
    config.sqlite.filename_uri = spec
    config.sqlite.connection_mode = (
        pb.SqliteMetadataSourceConfig.READONLY
        if read_only
        else pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def _postgresql(spec: str, pb):
    url = urlsplit(spec)
    try:
        port = url.port
    except ValueError as e:
        raise VistflowError(f"ML Metadata connection {redacted(spec)!r}: bad port ({e})") from None
    dbname = unquote(url.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise VistflowError(
            f"ML Metadata connection {redacted(spec)!r}: name one database "
            "(postgresql://user@host:port/database)"
        )
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(_QUERY_KEYS))
    if unknown:
        raise VistflowError(
            f"ML Metadata connection {redacted(spec)!r}: unknown parameter(s) "
            f"{', '.join(unknown)}; known: {', '.join(_QUERY_KEYS)}"
        )
    host = unquote(url.hostname or "") or query.get("host", "")
    if not host:
        raise VistflowError(
            f"ML Metadata connection {redacted(spec)!r}: no host (postgresql://user@host/db, "
            "or ?host=<socket dir> for a unix socket)"
        )
    pg = pb.PostgreSQLDatabaseConfig(host=host, port=str(port or 5432), dbname=dbname)
    if url.username:
        pg.user = unquote(url.username)
    if url.password:
        pg.password = unquote(url.password)
    for key in ("hostaddr", "passfile"):
        if query.get(key):
            setattr(pg, key, query[key])
    skip = query.get("skip_db_creation", "false").lower()
    if skip not in ("true", "false", "1", "0"):
        raise VistflowError(f"skip_db_creation={skip!r}: expected true or false")
    pg.skip_db_creation = skip in ("true", "1")
    for key in _SSL_KEYS:
        if query.get(key):
            setattr(pg.ssloption, key, query[key])
    return pg


def redacted(spec: str) -> str:
    """`spec` with the password of a URL replaced by `***` (safe to log)."""
    if "://" not in spec:
        return spec
    url = urlsplit(spec)
    if not url.password:
        return spec
    netloc = url.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return url._replace(netloc=f"{user}:***@{netloc[1]}").geturl()


def is_server(spec: str) -> bool:
    """Whether `spec` names a database server (not a SQLite file)."""
    return "://" in spec and spec.split("://", 1)[0].lower() in POSTGRES_SCHEMES
