"""Each benchmark runs at tiny sizes and ends with its `name: value` lines, so none of them rots."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

BENCHMARKS = {
    "training_overhead.py": ["plain_samples_per_s", "dlpipe_samples_per_s", "overhead_ratio_median"],
    "input_pipeline.py": [
        "input_default_samples_per_s",
        "training_step_samples_per_s",
        "headroom_default",
        "headroom_all_ops",
    ],
    "tuning_vs_kerastuner.py": [
        "dlpipe_best_val_accuracy",
        "kerastuner_best_val_accuracy",
        "dlpipe_trials",
        "dlpipe_cold_trials",
        "dlpipe_cold_best_val_accuracy",
        "kerastuner_trials",
    ],
    "memory_across_trials.py": ["rss_trial_2_mib", "rss_ratio_last_over_2"],
    "fixed_cost.py": [
        "fixed_cost_s",
        "import_tensorflow_s",
        "added_over_import_s",
        "import_stack_s",
        "added_over_stack_s",
        "repeat_fixed_cost_s",
    ],
    "end_to_end.py": ["wall_s", "test_accuracy", "trials", "epochs_trained"],
    "tuning_workers.py": ["one_process_trials_per_hour", "two_processes_trials_per_hour", "two_over_one"],
    "training_workers.py": ["one_process_examples_per_s", "two_workers_examples_per_s", "two_over_one"],
    "cnn_ablation.py": ["previous_default_test_accuracy", "plus_budget_wall_s"],
    "rnn_cells.py": [
        "simple_rnn_test_accuracy_median",
        "lstm_test_accuracy_median",
        "gru_test_accuracy_median",
    ],
    "vae_beta.py": ["beta_1_frechet_over_floor", "beta_1_negative_elbo"],
    "vae_sampling.py": [
        "prior_frechet_over_floor",
        "mixture_1_frechet_over_floor",
        "mixture_2_frechet_over_floor",
    ],
    "gan_average.py": ["raw_frechet_distance_over_floor", "average_frechet_distance_over_floor"],
    "frechet_calibration.py": ["floor", "blur_0.5px_over_floor", "noise_10_over_floor", "flipped_over_floor"],
    "seq2seq_attention.py": ["none_word_error_rate", "additive_word_error_rate_longest", "dot_fit_s"],
    "vit_vs_cnn.py": ["cnn_test_accuracy", "transformer_vit_test_accuracy", "transformer_vit_trained_s"],
    "mixed_precision.py": [
        "device",
        "mixed_bfloat16_ratio_to_float32",
        "mixed_float16_ratio_to_float32",
        "xla_ratio_to_float32",
        "xla_test_accuracy",
    ],
}


def figures(output: str) -> dict[str, str]:
    """The trailing block of `name: value` lines."""
    lines = output.strip().splitlines()
    block = []
    for line in reversed(lines):
        if ": " not in line or " " in line.split(": ")[0]:
            break
        block.append(line)
    return dict(line.split(": ", 1) for line in block)


@pytest.mark.parametrize("script", sorted(BENCHMARKS))
def test_benchmark_smoke(script):
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=PROJECT_ROOT,
        env=env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    found = figures(result.stdout)
    for name in BENCHMARKS[script]:
        assert name in found, (name, found)
        if name not in ("env", "device"):
            value = float(found[name])
            # A difference of two timings may come out negative on a noisy machine; it must exist.
            differences = ("added_over_import_s", "added_over_stack_s")
            assert math.isfinite(value) and (value > 0 or name in differences), (name, value)
