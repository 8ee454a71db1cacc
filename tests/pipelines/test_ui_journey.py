"""A user's journey through the MLflow UI and kedro-viz, in headless Chromium.

After two cnn smoke runs and a kedro-viz build in a scratch project, Playwright drives Debian's
`chromium` (`make test` installs it through `make browser`; nothing is downloaded at run time).
Each step saves a screenshot under ``data/08_reporting/ui/``; a missing element fails the test
with the step's name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import PROJECT_ROOT, load_project_params
from tests.pipelines.scratch import kedro, mlflow_client, runs_of, scratch_project
from tests.reliability.conftest import backup_epochs, free_port, kill_group, start_kedro, wait_for

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = PROJECT_ROOT / "data" / "08_reporting" / "ui"
STARTUP_S = 120


@contextlib.contextmanager
def serving(argv: list[str], *, port: int, cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run the server ``argv`` (listening on 127.0.0.1:``port``) until the block ends; yields its URL."""
    log = cwd / f"server-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"{argv[:3]} exited with {server.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(urllib.error.URLError, OSError), urllib.request.urlopen(url, timeout=5):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{argv[:3]} did not answer on {url} in {STARTUP_S} s: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def mlflow_ui(project: Path) -> contextlib.AbstractContextManager[str]:
    """The MLflow UI on the project's store, started as `make mlflow-ui` starts it."""
    port = free_port()
    argv = [str(Path(sys.executable).parent / "mlflow"), "ui", "--workers", "1", "--port", str(port)]
    argv += ["--backend-store-uri", f"sqlite:///{project / 'mlflow.db'}", "--host", "127.0.0.1"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    return serving(argv, port=port, cwd=project, env=env)


def static_site(folder: Path) -> contextlib.AbstractContextManager[str]:
    """``folder`` served over HTTP, as `make viz` serves the kedro-viz build."""
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(folder)]
    return serving(argv, port=port, cwd=folder.parent)


class Journey:
    """A browser page whose steps are named: ``with journey.step("runs table"): ...``."""

    def __init__(self, page, screenshots: Path = SCREENSHOTS):
        self.page = page
        self.screenshots = screenshots
        self.count = 0
        screenshots.mkdir(parents=True, exist_ok=True)
        for old in screenshots.glob("*.png"):
            old.unlink()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        from playwright.sync_api import Error as PlaywrightError

        self.count += 1
        shot = self.screenshots / f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"
        try:
            yield
        except (PlaywrightError, AssertionError) as err:
            failed = shot.with_suffix(".failed.png")
            self.page.screenshot(path=str(failed))
            pytest.fail(f"UI step '{name}' failed: {str(err).splitlines()[0][:500]} (see {failed})")
        self.page.screenshot(path=str(shot))

    def see(self, text: str | re.Pattern, *, exact: bool = False, timeout_ms: int = 30_000):
        """Wait until ``text`` is visible on the page; returns its first match."""
        found = self.page.get_by_text(text, exact=exact).first
        found.wait_for(state="visible", timeout=timeout_ms)
        return found


BACKUP = Path("data/06_models/smoke/cnn/backup")
EXPERIMENT = "experiment_perceptron_vs_mlp"  # the quickest experiment: its arms are compared


def _succeeds(result) -> None:
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A scratch project after two cnn smoke runs, a third one killed during training and run
    again (it resumes from its backup), a smoke run of an experiment, and a kedro-viz build with
    previews."""
    root = scratch_project(tmp_path_factory.mktemp("journey"))
    smoke_run = ["run", "--pipelines=cnn", "--env=smoke"]
    for _ in range(2):
        _succeeds(kedro(root, *smoke_run))
    long_run = [*smoke_run, "--params=cnn.training.epochs=20"]  # long enough to be killed mid-training
    killed = start_kedro(root, *long_run, log=root / "killed.log")
    try:
        wait_for(
            lambda: max(backup_epochs(root / BACKUP), default=0) >= 2,
            timeout=300,
            process=killed,
            what="the second epoch's backup",
        )
    finally:
        kill_group(killed)
    _succeeds(kedro(root, *long_run))
    _succeeds(kedro(root, "run", f"--pipelines={EXPERIMENT}", "--env=smoke"))
    _succeeds(kedro(root, "viz", "build", "--include-previews"))
    return root


def test_browser_journey_through_the_mlflow_ui_and_kedro_viz(project):
    """In headless Chromium: the MLflow UI opens on the training runs (Dataset column filled,
    names apart), a run's trials expand under it, its page shows test_accuracy, the registered
    model and the confusion matrix, Compare puts two runs side by side, and the run that finished
    a killed one holds its trials and every epoch, an experiment's arms compare side by side;
    kedro-viz shows each registered pipeline's nodes
    once its namespace is expanded."""
    from playwright.sync_api import sync_playwright

    from dlpipe.ui_links import training_runs_url

    assert CHROMIUM.exists(), f"no browser at {CHROMIUM}: `make browser` installs Debian's chromium"
    client = mlflow_client(project)
    parents, runs = runs_of(client, "cnn")
    first, second, killed, rerun = sorted(parents, key=lambda run: run.info.start_time)
    assert (killed.info.status, rerun.info.status) == ("KILLED", "FINISHED")

    def trial_names(parent):
        return [r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]

    # The run that finished the killed one holds all of the job: its trials and every epoch.
    assert rerun.data.tags["dlpipe.continues"] == killed.info.run_id and len(trial_names(rerun)) == 2
    history = json.loads((project / "data/08_reporting/cnn/training_history.json").read_text())
    epochs = sorted(m.step for m in client.get_metric_history(rerun.info.run_id, "val_accuracy"))
    assert epochs == list(range(len(history["val_accuracy"]))) and len(epochs) >= 3
    pipelines = [*load_project_params("base"), "predict", EXPERIMENT]
    _, experiment_runs = runs_of(client, EXPERIMENT)
    arms = [run for run in experiment_runs if run.data.tags.get("dlpipe.experiment") == EXPERIMENT]
    assert len(arms) == 4  # four arms, one seed in smoke mode

    with mlflow_ui(project) as ui, static_site(project / "build") as viz, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        journey = Journey(page)
        runs_table = training_runs_url(ui, second.info.experiment_id)

        def row_of(run):
            return page.get_by_role("row").filter(has_text=run.info.run_name).first

        def toggle_trials(run):
            row_of(run).locator('[col-id*="Run Name"] button').first.click()

        def expand_trials(run):
            toggle_trials(run)
            for name in trial_names(run):
                journey.see(name)

        def open_run_page(run):
            page.get_by_role("link", name=run.info.run_name).first.click()

        with journey.step("training runs"):
            page.goto(runs_table)
            journey.see("Runs")
            for run in (first, second, killed, rerun):
                journey.see(run.info.run_name)
            journey.see("fashion_mnist_local train")  # the Dataset column
        with journey.step("nested trials"):
            expand_trials(second)
        with journey.step("run page"):
            open_run_page(second)
            journey.see("test_accuracy")
            journey.see("Registered models")
            journey.see("dlpipe-cnn")
        with journey.step("confusion matrix"):
            page.get_by_text("Artifacts", exact=True).first.click()
            journey.see("evaluation", exact=True).click()
            journey.see("confusion_matrix.png", exact=True).click()
            journey.see("evaluation/confusion_matrix.png", exact=True)  # the preview's title
            page.wait_for_function("[...document.images].some(i => i.complete && i.naturalWidth > 300)")
        with journey.step("compare"):
            page.goto(runs_table)
            journey.see(trial_names(second)[0])  # still expanded: collapse, or ticking it ticks its trials
            toggle_trials(second)
            page.get_by_text(trial_names(second)[0], exact=True).wait_for(state="hidden")
            for run in (second, first):
                journey.see(run.info.run_name)
                row_of(run).locator("input[type=checkbox]").first.check(force=True)
            page.get_by_role("button", name="Compare").first.click()
            page.wait_for_url(re.compile("compare-runs"), timeout=30_000)
            journey.see("Comparing 2 Runs")
            journey.see(second.info.run_name)
            journey.see(first.info.run_name)
            journey.see("test_accuracy")
        with journey.step("killed run and its rerun"):
            page.goto(runs_table)
            journey.see(killed.info.run_name)
            expand_trials(rerun)
        with journey.step("rerun holds every epoch"):
            open_run_page(rerun)
            journey.see("dlpipe.continues")
            page.get_by_text("Model metrics", exact=True).first.click()
            page.get_by_placeholder("Search metric charts").fill("val_accuracy")
            journey.see("val_accuracy", exact=True)

        with journey.step("experiment arms side by side"):
            ids = json.dumps([run.info.run_id for run in arms], separators=(",", ":"))
            experiment_ids = json.dumps([arms[0].info.experiment_id])
            page.goto(f"{ui}/#/compare-runs?runs={quote(ids)}&experiments={quote(experiment_ids)}")
            journey.see(f"Comparing {len(arms)} Runs")
            for run in arms:
                journey.see(run.info.run_name)  # "mlp_xor seed 1"...
            for metric in ("test_accuracy", "train_val_gap", "final_loss"):
                journey.see(metric, exact=True)

        page.goto(viz)
        current = "__default__"
        for pipeline in pipelines:
            with journey.step(f"kedro-viz {pipeline}"):
                page.get_by_role("button", name=current, exact=True).first.click()
                page.get_by_role("option", name=pipeline, exact=True).click()
                current = pipeline
                hint = page.locator(".feature-hints__close")
                if hint.count() and hint.first.is_visible():
                    hint.first.click()
                expand = page.get_by_role("button", name="Expand all modular pipelines")
                if expand.count():
                    expand.click()
                node = {"predict": "predict_batch", EXPERIMENT: "judge_claim"}.get(pipeline, "train_model")
                page.locator("svg text").filter(has_text=node).first.wait_for(timeout=30_000)
        browser.close()
