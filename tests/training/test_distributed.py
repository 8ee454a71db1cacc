"""The multi-replica path: MirroredStrategy over two logical CPU devices, without a GPU."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import DATA_DIR, PROJECT_ROOT

# Logical devices must be configured before TensorFlow initialises its runtime, so this runs in a
# fresh interpreter.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    sys.path.insert(0, {root!r})
    from tests.conftest import load_project_params
    from dlpipe.config.data import DatasetConfig
    from dlpipe.config.schema import parse_family
    from dlpipe.data.loading import load_splits
    from dlpipe.training.fit import fit_model
    from dlpipe.training.strategy import resolve_strategy

    params = load_project_params("smoke")["cnn"]
    params["dataset"]["data_dir"] = {data_dir!r}
    params["training"].update(strategy="mirrored", verbose=0, batch_size=64)
    config = parse_family("cnn", params)
    splits, info = load_splits(config.dataset, seed=config.seed)
    strategy = resolve_strategy("mirrored")
    model, history = fit_model(config, splits, info, epochs=2, callbacks=[])
    variable = model.trainable_variables[0]
    print(json.dumps({{
        "replicas": strategy.num_replicas_in_sync,
        "distributed_variable": type(getattr(variable, "value", variable)).__name__,
        "loss": history["loss"],
    }}))
    """
)


def test_mirrored_strategy_trains_over_two_logical_cpus():
    code = SCRIPT.format(root=str(PROJECT_ROOT), data_dir=str(DATA_DIR))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert "Mirrored" in report["distributed_variable"]
    assert report["loss"][1] < report["loss"][0]
