"""Learning curves: every arm at every training size, seeds repeated only where asked, the table
and figure the stage logs, and the stage only in the pipelines of blocks that enable it."""

from __future__ import annotations

import numpy as np

from dlpipe.config.schema import parse_family, with_overrides
from dlpipe.data.loading import load_splits
from dlpipe.evaluation.learning_curve import learning_curve, plot_learning_curve, summarize
from dlpipe.pipelines.learning_curve.nodes import compute_learning_curve
from tests.conftest import load_project_params
from tests.families.conftest import shrunk_block

PARAMS = load_project_params("base")


def test_every_arm_at_every_size_with_seeds_up_to_the_limit(tmp_path):
    block = with_overrides(
        shrunk_block(PARAMS["mlp"], tmp_path),
        {
            "learning_curve": {
                "enabled": True,
                "train_sizes": [16, None],
                "arms": {"narrow": {"model.dense.units": 8}, "wide": {"model.dense.units": 64}},
                "seeds": [1, 2],
                "repeat_up_to": 16,
                "epochs": 2,
            }
        },
    )
    config = parse_family("mlp", block)
    splits, spec = load_splits(config.dataset, config.seed)
    runs = learning_curve(block, splits, spec)
    available = len(splits["x_train"])
    assert sorted(zip(runs["arm"], runs["train_size"], runs["seed"], strict=True)) == [
        ("narrow", 16, 1), ("narrow", 16, 2), ("narrow", available, 1),
        ("wide", 16, 1), ("wide", 16, 2), ("wide", available, 1),
    ]  # fmt: skip
    assert runs["test_accuracy"].between(0.0, 1.0).all() and (runs["epochs"] <= 2).all()
    summary = summarize(runs, "test_accuracy")
    small = summary[(summary["arm"] == "narrow") & (summary["train_size"] == 16)].iloc[0]
    seeds = runs[(runs["arm"] == "narrow") & (runs["train_size"] == 16)]["test_accuracy"]
    assert small["runs"] == 2 and np.isclose(small["mean"], seeds.mean()) and small["low"] == seeds.min()
    figure = plot_learning_curve(summary, "test_accuracy")
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["narrow", "wide"]


def test_the_stage_says_so_when_the_curve_is_turned_off(tmp_path):
    table, figure = compute_learning_curve({}, {}, [], {}, shrunk_block(PARAMS["mlp"], tmp_path))
    assert table.empty
    assert "disabled" in figure.axes[0].texts[0].get_text()


def test_only_blocks_that_enable_it_have_the_stage():
    from dlpipe.pipelines.family import create_family_pipeline

    names = {
        node.name.split(".")[-1]
        for node in create_family_pipeline("transfer", with_learning_curve=True).nodes
    }
    assert "compute_learning_curve" in names
    assert "compute_learning_curve" not in {
        node.name.split(".")[-1] for node in create_family_pipeline("cnn").nodes
    }
