"""pipelines/metadata_config.py: SQLite paths and PostgreSQL URLs to ML Metadata connections, and
an MLMD store on a real PostgreSQL server (started and stopped by the test module)."""

from __future__ import annotations

import postgres_server
import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from pipelines.metadata_config import connection_config, is_server, redacted
from vistflow.errors import VistflowError

postgres = postgres_server.postgres  # the module-scoped server fixture


def test_a_path_is_sqlite(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    config = connection_config(path)
    assert config.WhichOneof("config") == "sqlite"
    assert config.sqlite.filename_uri == path
    assert config.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    assert connection_config(f"sqlite://{path}").sqlite.filename_uri == path
    ro = connection_config(path, read_only=True)
    assert ro.sqlite.connection_mode == pb.SqliteMetadataSourceConfig.READONLY
    assert not is_server(path)


def test_a_postgresql_url_fills_every_field():
    url = (
        "postgresql://ml%40md:p%2Fss@db.internal:6543/lineage"
        "?sslmode=verify-full&sslrootcert=/etc/ca.pem&skip_db_creation=true"
    )
    pg = connection_config(url).postgresql
    assert (pg.host, pg.port, pg.dbname, pg.user, pg.password) == (
        "db.internal",
        "6543",
        "lineage",
        "ml@md",
        "p/ss",
    )
    assert pg.skip_db_creation is True
    assert (pg.ssloption.sslmode, pg.ssloption.sslrootcert) == ("verify-full", "/etc/ca.pem")
    assert is_server(url)
    assert redacted(url).startswith("postgresql://ml%40md:***@db.internal:6543/lineage")
    assert "p%2Fss" not in redacted(url)

    default = connection_config("postgres://mlmd@db/mlmd").postgresql
    assert (default.port, default.password, default.skip_db_creation) == ("5432", "", False)
    socket = connection_config("postgresql://mlmd@/mlmd?host=/run/postgresql").postgresql
    assert socket.host == "/run/postgresql"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "empty"),
        ("postgresql://u:pw@db:5432/", "name one database"),
        ("postgresql://u@db:99999/x", "bad port"),
        ("postgresql://u@/x", "no host"),
        ("postgresql://u@db/x?sslmod=require", "unknown parameter"),
        ("mysql://u:pw@db/x", "unsupported scheme"),
        ("gs://bucket/metadata.sqlite", "unsupported scheme"),
    ],
)
def test_bad_specs_are_user_errors_without_the_password(spec, message):
    with pytest.raises(VistflowError, match=message) as e:
        connection_config(spec)
    assert "pw" not in str(e.value)


def test_an_mlmd_store_on_postgresql_puts_and_gets_an_artifact(postgres):
    url = postgres.url("mlmd_test")  # MLMD creates the database on first use
    store = metadata_store.MetadataStore(connection_config(url))
    model_type = pb.ArtifactType(name="Model", properties={"span": pb.INT})
    type_id = store.put_artifact_type(model_type)
    artifact = pb.Artifact(
        type_id=type_id, uri="/models/1", properties={"span": pb.Value(int_value=7)}
    )
    [artifact_id] = store.put_artifacts([artifact])

    # A second connection (a later task process) sees it.
    again = metadata_store.MetadataStore(connection_config(url))
    [got] = again.get_artifacts_by_id([artifact_id])
    assert (got.uri, got.properties["span"].int_value) == ("/models/1", 7)
    assert [a.id for a in again.get_artifacts_by_type("Model")] == [artifact_id]

    # The same database over the server's unix socket (libpq: a host that is a directory).
    over_socket = (
        f"postgresql://{postgres_server.USER}@:{postgres.port}/mlmd_test?host={postgres.root}"
    )
    by_socket = metadata_store.MetadataStore(connection_config(over_socket))
    assert by_socket.get_artifacts_by_id([artifact_id])[0].uri == "/models/1"


def test_a_new_sqlite_store_gets_its_directory(tmp_path):
    from ml_metadata import metadata_store

    from pipelines.metadata_config import connection_config

    path = tmp_path / "new" / "root" / "metadata.sqlite"
    metadata_store.MetadataStore(connection_config(str(path)))
    assert path.is_file()
