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


def test_a_postgresql_study_is_named_without_its_password_and_an_unreachable_server_is_reported(cnn_params):
    import socket

    from dlpipe.tuning.storage import describe_storage

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cnn_params["tuning"].update(
        storage=f"postgresql+psycopg://alice:s3cret@127.0.0.1:{port}/optuna", lock_timeout_s=2
    )
    config = parse_family("cnn", cnn_params)
    assert "s3cret" not in describe_storage(config.tuning) and "alice" in describe_storage(config.tuning)
    with pytest.raises(StudyStorageError) as raised:
        open_study(config)
    message = str(raised.value)
    assert "tuning.storage" in message and f"127.0.0.1:{port}/optuna" in message and "s3cret" not in message


def test_storage_credentials_name_an_entry_of_the_credentials_files():
    from dlpipe.tuning.storage import _credentials, share_storage_credentials

    params = {"cnn": {"tuning": {"storage_credentials": "optuna_study"}}, "mlp": {"tuning": {}}}
    with pytest.raises(ConfigError) as raised:
        share_storage_credentials(params, lambda: {"other": {"password": "x"}})
    assert "cnn.tuning.storage_credentials" in str(raised.value) and "'optuna_study'" in str(raised.value)

    share_storage_credentials(params, lambda: {"optuna_study": {"username": "bob", "password": "pw"}})
    assert _credentials["optuna_study"] == {"username": "bob", "password": "pw"}
    read = []
    share_storage_credentials({"mlp": {"tuning": {}}}, lambda: read.append(1) or {})
    assert read == []  # no block names credentials: the credentials files are not read
