"""The verdicts of the experiments that have run, as Markdown: ``python -m dlpipe.experiments.report``.

Reads ``data/08_reporting/experiment_*/verdict.json`` (what each experiment pipeline wrote) and
prints, per experiment, its claim, whether it held and why, and a table of every arm's measures
(mean over seeds, lowest to highest).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

# Shown for every arm when measured, beside the measures the verdict checks.
HEADLINE_MEASURES = ("target_reached", "test_accuracy", "final_loss", "epochs", "seconds")


def verdict_markdown(block: str, verdict: dict[str, Any]) -> str:
    """One experiment's section: claim, outcome with the numbers, and a table of its arms."""
    checked = list(dict.fromkeys(condition["measure"] for condition in verdict["conditions"]))
    measures = checked + [m for m in HEADLINE_MEASURES if m not in checked]
    arms = verdict["arms"]
    measures = [m for m in measures if any(_measured(arm, m) for arm in arms.values())]
    lines = [
        f"### `{block}`: {'held' if verdict['held'] else 'did not hold'}",
        "",
        f"> {verdict['claim']}",
        "",
        verdict["conclusion"],
        "",
        f"Command: `kedro run --pipelines={block}`. Figure: `data/08_reporting/{block}/comparison.png`"
        f" (in MLflow, the run's `{block}/comparison.png`).",
        "",
        f"Seeds: {', '.join(str(s) for s in verdict['seeds'])}. Each cell: mean (lowest to highest).",
        "",
        "| arm | " + " | ".join(measures) + " |",
        "|---|" + "---|" * len(measures),
    ]
    for name, arm in arms.items():
        cells = [_cell(arm["measures"].get(measure)) for measure in measures]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _measured(arm: dict[str, Any], measure: str) -> bool:
    return (arm["measures"].get(measure) or {}).get("mean") is not None


def _cell(spread: dict[str, Any] | None) -> str:
    if not spread or spread.get("mean") is None:
        return "n/a"
    mean, low, high = spread["mean"], spread.get("low"), spread.get("high")
    if low is None or high is None or low == high:
        return _number(mean)
    return f"{_number(mean)} ({_number(low)} to {_number(high)})"


def _number(value: float) -> str:
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.4g}"


def report(reporting_dir: Path) -> str:
    """Every experiment's section, in name order; says so when none has run yet."""
    files = sorted(reporting_dir.glob("experiment_*/verdict.json"))
    if not files:
        return f"No experiment has run yet (no {reporting_dir}/experiment_*/verdict.json).\n"
    sections = [verdict_markdown(file.parent.name, json.loads(file.read_text())) for file in files]
    return "\n".join(sections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reporting-dir", type=Path, default=Path("data/08_reporting"))
    print(report(parser.parse_args().reporting_dir), end="")


if __name__ == "__main__":
    main()
