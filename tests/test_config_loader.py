"""dlpipe's configuration loader (dlpipe.config_loader): each kind of configuration read once."""

from dlpipe.config_loader import MemoizedConfigLoader


def _conf(tmp_path):
    for env in ("base", "local"):
        (tmp_path / env).mkdir(parents=True)
    (tmp_path / "base" / "parameters.yml").write_text("cnn:\n  seed: 1\n  epochs: 2\n")
    (tmp_path / "base" / "credentials.yml").write_text("db:\n  password: first\n")
    return tmp_path


def test_parameters_are_read_once_and_each_request_gets_its_own_copy(tmp_path):
    conf = _conf(tmp_path)
    loader = MemoizedConfigLoader(str(conf), runtime_params={"cnn": {"epochs": 5}})

    first = loader["parameters"]
    assert first == {"cnn": {"seed": 1, "epochs": 5}}  # runtime parameters applied
    (conf / "base" / "parameters.yml").write_text("cnn:\n  seed: 99\n")
    first["cnn"]["seed"] = -1
    assert loader["parameters"] == {"cnn": {"seed": 1, "epochs": 5}}  # not re-read, not changed

    loader["parameters"] = {"cnn": {"seed": 7}}  # set explicitly: that wins, as in Kedro
    assert loader["parameters"] == {"cnn": {"seed": 7}}


def test_credentials_are_read_on_every_request(tmp_path):
    conf = _conf(tmp_path)
    loader = MemoizedConfigLoader(str(conf))
    assert loader["credentials"] == {"db": {"password": "first"}}
    (conf / "base" / "credentials.yml").write_text("db:\n  password: second\n")
    assert loader["credentials"] == {"db": {"password": "second"}}
