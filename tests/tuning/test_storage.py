"""Where a study lives: the SQLite file, or a journal file several processes can write."""

import pytest

from dlpipe.config.common import ConfigError
from dlpipe.config.schema import parse_family
from dlpipe.tuning.storage import StudyStorageError, describe_storage, open_study


def test_a_journal_study_keeps_its_trials_between_openings(cnn_params, tmp_path):
    journal = tmp_path / "studies" / "cnn.journal"
    cnn_params["tuning"]["storage"] = f"journal:///{journal}"
    config = parse_family("cnn", cnn_params)
    study = open_study(config)
    trial = study.ask()
    study.tell(trial, 0.5)

    again = open_study(config)
    assert [t.value for t in again.trials] == [0.5]
    assert journal.stat().st_size > 0
    assert describe_storage(config.tuning) == f"journal {journal}"


def test_a_damaged_journal_is_refused_naming_it(cnn_params, tmp_path):
    journal = tmp_path / "cnn.journal"
    journal.write_text('{"op_code": 0, "worker_id": "x", "study_name": "cnn"\nnot json at all\n')
    cnn_params["tuning"]["storage"] = f"journal:///{journal}"
    with pytest.raises(StudyStorageError) as raised:
        open_study(parse_family("cnn", cnn_params))
    assert "tuning.storage" in str(raised.value) and str(journal) in str(raised.value)


def test_an_unknown_storage_is_refused_naming_the_key(cnn_params):
    cnn_params["tuning"]["storage"] = "redis://127.0.0.1:6379"
    with pytest.raises(ConfigError) as raised:
        parse_family("cnn", cnn_params)
    assert "tuning.storage" in str(raised.value) and "journal:///" in str(raised.value)


def test_a_worker_on_a_study_only_one_process_may_write_is_refused(cnn_params):
    cnn_params["tuning"]["worker"] = True  # storage: the SQLite file
    with pytest.raises(ConfigError) as raised:
        parse_family("cnn", cnn_params)
    assert "worker" in str(raised.value) and "journal:///" in str(raised.value)


def test_a_password_in_the_storage_url_is_refused_before_it_reaches_mlflow(cnn_params):
    cnn_params["tuning"]["storage"] = "postgresql+psycopg://alice:s3cret@db.example.org:5432/optuna"
    with pytest.raises(ConfigError) as raised:
        parse_family("cnn", cnn_params)
    message = str(raised.value)
    assert "tuning.storage" in message and "storage_credentials" in message and "s3cret" not in message


def test_an_unreachable_postgresql_server_is_reported_naming_the_database(cnn_params):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cnn_params["tuning"].update(
        storage=f"postgresql+psycopg://alice@127.0.0.1:{port}/optuna", lock_timeout_s=2
    )
    config = parse_family("cnn", cnn_params)
    with pytest.raises(StudyStorageError) as raised:
        open_study(config)
    message = str(raised.value)
    assert "tuning.storage" in message and f"alice@127.0.0.1:{port}/optuna" in message


def test_storage_credentials_name_an_entry_of_the_credentials_files(cnn_params):
    from dlpipe.tuning.storage import _credentials, share_storage_credentials

    params = {"cnn": {"tuning": {"storage_credentials": "optuna_study"}}, "mlp": {"tuning": {}}}
    with pytest.raises(ConfigError) as raised:
        share_storage_credentials(params, lambda: {"other": {"password": "x"}})
    assert "cnn.tuning.storage_credentials" in str(raised.value) and "'optuna_study'" in str(raised.value)

    share_storage_credentials(params, lambda: {"optuna_study": {"username": "bob", "password": "pw"}})
    assert _credentials == {"optuna_study": {"username": "bob", "password": "pw"}}
    read = []
    share_storage_credentials({"mlp": {"tuning": {}}}, lambda: read.append(1) or {})
    assert read == [] and _credentials == {}  # none named: not read, and none kept from before

    # Named but never read (outside a Kedro run): said so, not a silent login without a password.
    cnn_params["tuning"].update(
        storage="postgresql+psycopg://bob@127.0.0.1:1/optuna", storage_credentials="x"
    )
    with pytest.raises(StudyStorageError, match="tuning.storage_credentials: 'x' was not read"):
        open_study(parse_family("cnn", cnn_params))
