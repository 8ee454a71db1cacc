"""A multi-worker job's roles, commands and refusals, checked without starting TensorFlow's
collective runtime (tests/reliability/test_training_workers.py runs real workers)."""

from __future__ import annotations

import json

import pytest
from kedro.io import DataCatalog, MemoryDataset

from dlpipe.config.common import ConfigError
from dlpipe.launch import exit_status, job_params, lost_worker, main, tf_config, worker_command
from dlpipe.pipelines.family import create_family_pipeline
from dlpipe.training.cluster import cluster_role, weights_digest, worker_folder
from dlpipe.worker_runs import check_training_workers


def _env(cluster: dict, task_type: str, index: int) -> dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_worker_zero_is_the_chief_unless_the_cluster_names_one():
    workers = {"worker": ["a:1", "b:1"]}
    assert cluster_role({}) is None
    first, second = cluster_role(_env(workers, "worker", 0)), cluster_role(_env(workers, "worker", 1))
    assert (first.is_chief, second.is_chief, first.num_workers, second.name) == (True, False, 2, "worker-1")
    with_chief = {"chief": ["c:1"], "worker": ["a:1"]}
    assert not cluster_role(_env(with_chief, "worker", 0)).is_chief
    assert cluster_role(_env(with_chief, "chief", 0)).is_chief
    assert cluster_role(_env(with_chief, "chief", 0)).num_workers == 2


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "cannot read"),
        (json.dumps({"cluster": {"worker": ["a:1"]}}), "cannot read"),
        (json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}), "not in the"),
    ],
)
def test_an_unreadable_tf_config_is_refused_naming_it(text, named):
    with pytest.raises(ConfigError, match="TF_CONFIG") as raised:
        cluster_role({"TF_CONFIG": text})
    assert named in str(raised.value)


def test_each_worker_has_its_own_backup_folder_and_digests_tell_weights_apart():
    import numpy as np

    role = cluster_role(_env({"worker": ["a:1", "b:1"]}, "worker", 1))
    assert worker_folder("data/backup", None) == "data/backup"
    assert worker_folder("data/backup", role) == "data/backup/worker-1"
    weights = [np.ones((2, 2), np.float32), np.zeros(3, np.float32)]
    changed = [weights[0], np.array([0, 0, 1e-7], np.float32)]
    assert weights_digest(weights) == weights_digest([w.copy() for w in weights])
    assert weights_digest(weights) != weights_digest(changed)


def test_the_launcher_gives_every_worker_the_job_and_stops_the_others_at_training():
    chief = worker_command("cnn", index=0, env="smoke", params="cnn.training.epochs=3")
    other = worker_command("cnn", index=1, env="smoke", params=None)
    assert chief[1:5] == ["-m", "kedro", "run", "--pipelines=cnn"] and "--env=smoke" in chief
    assert not any(arg.startswith("--to-nodes") for arg in chief)
    assert other[-1] == "--to-nodes=cnn.train_model"
    params = job_params("cnn", "cnn.training.epochs=3").split(",")
    assert params[:3] == [
        "cnn.training.strategy=multi_worker_mirrored",
        "cnn.tuning.enabled=false",
        "cnn.budget.seconds=null",
    ]
    assert params[-1] == "cnn.training.epochs=3"  # the caller's last: it may override the rest
    assert cluster_role({"TF_CONFIG": tf_config(["h1:7", "h2:7"], 1)}).name == "worker-1"


def test_the_launcher_prints_each_hosts_tf_config(capsys):
    assert main(["--pipeline", "cnn", "--hosts", "h1:2222,h2:2222", "--job", "j1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    exports = [line for line in printed if line.startswith("export TF_CONFIG=")]
    assert len(exports) == 2 and all("DLPIPE_JOB=j1" in line for line in exports)
    second = json.loads(exports[1].split("'")[1])
    assert second == {"cluster": {"worker": ["h1:2222", "h2:2222"]}, "task": {"type": "worker", "index": 1}}
    assert printed[-1].endswith("--to-nodes=cnn.train_model") and printed[-1].startswith("kedro run")


def _catalog(cnn_params, **changes) -> DataCatalog:
    params = {**cnn_params, "training": {**cnn_params["training"], "strategy": "multi_worker_mirrored"}}
    params["tuning"] = {**params["tuning"], "enabled": False}
    params["budget"] = {**params["budget"], "seconds": None}
    for section, values in changes.items():
        params[section] = {**params[section], **values}
    return DataCatalog({"params:cnn": MemoryDataset(params)})


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"tuning": {"enabled": True}}, "cnn.tuning.enabled: True"),
        ({"budget": {"seconds": 60}}, "cnn.budget.seconds: 60"),
    ],
)
def test_what_would_make_the_workers_diverge_is_refused_before_any_node(
    cnn_params, monkeypatch, changes, key
):
    monkeypatch.setenv("TF_CONFIG", tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0))
    with pytest.raises(ConfigError, match=key) as raised:
        check_training_workers(create_family_pipeline("cnn"), _catalog(cnn_params, **changes))
    assert "multi_worker_mirrored" in str(raised.value) and "Nothing has run yet" in str(raised.value)


def test_a_job_without_tf_config_or_a_worker_that_would_evaluate_is_refused(cnn_params, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG is not set") as raised:
        check_training_workers(create_family_pipeline("cnn"), _catalog(cnn_params))
    assert "python -m dlpipe.launch" in str(raised.value)
    monkeypatch.setenv("TF_CONFIG", tf_config(["127.0.0.1:1", "127.0.0.1:2"], 1))
    with pytest.raises(ConfigError, match="worker-1, not the chief") as raised:
        check_training_workers(create_family_pipeline("cnn"), _catalog(cnn_params))
    assert "--to-nodes=cnn.train_model" in str(raised.value)


def test_a_family_that_decides_its_own_stop_is_refused_and_a_run_without_training_needs_no_cluster(
    smoke_params, cnn_params, monkeypatch, tmp_path
):
    monkeypatch.setenv("TF_CONFIG", tf_config(["127.0.0.1:1", "127.0.0.1:2"], 0))
    vae = {
        **smoke_params["vae"],
        "training": {**smoke_params["vae"]["training"], "strategy": "multi_worker_mirrored"},
    }
    vae["tuning"] = {**vae["tuning"], "enabled": False}
    vae["budget"] = {**vae.get("budget", {}), "seconds": None}
    with pytest.raises(ConfigError, match="vae.model.family: 'vae'") as raised:
        check_training_workers(create_family_pipeline("vae"), DataCatalog({"params:vae": MemoryDataset(vae)}))
    message = str(raised.value)
    assert "callbacks" in message and "cnn" in message and "Nothing has run yet" in message
    # Evaluating again after a job (--from-nodes past training) starts no cluster and is not refused.
    monkeypatch.delenv("TF_CONFIG")
    evaluate_only = create_family_pipeline("cnn").from_nodes("cnn.evaluate_model")
    check_training_workers(evaluate_only, _catalog(cnn_params))


def test_the_launcher_restarts_a_job_only_for_a_killed_worker():
    assert exit_status(-9) == 137 and exit_status(1) == 1
    assert lost_worker(exit_status(-9)) and lost_worker(exit_status(-15))
    assert not lost_worker(exit_status(1))
