"""Start a multi-worker training job: ``python -m dlpipe.launch --workers 2 --pipeline cnn``.

Each worker is the same ``kedro run`` with ``training.strategy: multi_worker_mirrored`` and its
own ``TF_CONFIG``; worker 0 is the chief, which evaluates, saves the model and logs to MLflow,
while the others run up to training. The launcher runs them on this machine (loopback ports),
and when one is killed it stops the others and starts the job again (``--restarts``): every
worker resumes from the last backup they all hold, and the chief continues the job's MLflow run.
A job whose worker exits with an error is not restarted: the error would only happen again.
With ``--hosts`` it prints the ``TF_CONFIG`` and command for each machine instead (README,
"Scaling out").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from dlpipe.job_runs import JOB_ENV
from dlpipe.training.cluster import MULTI_WORKER

logger = logging.getLogger("dlpipe.launch")


def job_params(pipeline: str, params: str | None) -> str:
    """The ``--params`` of every worker: the multi-worker strategy, no tuning and no time budget
    (both would make the workers diverge), then the caller's own."""
    fixed = [
        f"{pipeline}.training.strategy={MULTI_WORKER}",
        f"{pipeline}.tuning.enabled=false",
        f"{pipeline}.budget.seconds=null",
    ]
    return ",".join([*fixed, *([params] if params else [])])


def worker_command(pipeline: str, *, index: int, env: str | None, params: str | None) -> list[str]:
    """The ``kedro run`` of worker ``index``: the chief's runs the whole pipeline, the others'
    stop after training."""
    command = [sys.executable, "-m", "kedro", "run", f"--pipelines={pipeline}"]
    if env:
        command.append(f"--env={env}")
    command.append(f"--params={job_params(pipeline, params)}")
    if index > 0:
        command.append(f"--to-nodes={pipeline}.train_model")
    return command


def tf_config(addresses: list[str], index: int) -> str:
    """TensorFlow's cluster description for worker ``index`` of ``addresses`` (``host:port``)."""
    return json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})


def free_ports(count: int) -> list[int]:
    """``count`` ports free on 127.0.0.1 now, held open together so they differ."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def stop_all(processes: list[subprocess.Popen], grace_s: float) -> None:
    """SIGTERM to every running worker, SIGKILL to those still running after ``grace_s``: a
    worker waiting on a dead peer inside a collective operation may not answer SIGTERM. A second
    SIGTERM to the launcher meanwhile does not cut this short."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_attempt(args, job: str, attempt: int) -> int:
    """Start every worker on loopback and wait; on the first failure stop the others. Returns 0
    when all succeed, else the failed worker's exit status (128 + the signal when one was killed)."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(args.workers)]
    folder = Path(args.log_dir) / job / f"attempt-{attempt}"
    folder.mkdir(parents=True, exist_ok=True)
    processes = []
    try:
        for index in range(args.workers):
            env = {**os.environ, "TF_CONFIG": tf_config(addresses, index), JOB_ENV: job}
            command = worker_command(args.pipeline, index=index, env=args.env, params=args.params)
            with open(folder / f"worker-{index}.log", "wb") as log:
                processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
            logger.info("worker %d: pid %d, log %s", index, processes[-1].pid, folder / f"worker-{index}.log")
        while True:
            codes = [process.poll() for process in processes]
            failed = [(index, code) for index, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                # A worker killed by a signal, if any, is the cause; a peer's error may follow it.
                index, code = next(((i, c) for i, c in failed if c < 0), failed[0])
                logger.error("worker %d exited with %d: stopping the others", index, code)
                stop_all(processes, args.grace_s)
                return exit_status(code)
            if all(code == 0 for code in codes):
                return 0
            time.sleep(0.5)
    except BaseException:
        stop_all(processes, args.grace_s)
        raise


def exit_status(code: int) -> int:
    """A child's return code as a shell reports it: 128 + the signal for one killed by a signal."""
    return 128 - code if code < 0 else code


def lost_worker(status: int) -> bool:
    """Whether a job that failed with ``status`` lost a worker (killed by a signal), which a
    restart from the backups repairs; an error exit would only happen again."""
    return status > 128


def print_hosts(args) -> None:
    """For each ``host:port`` of ``--hosts``: the environment and command to run there."""
    addresses = args.hosts.split(",")
    job = args.job or uuid.uuid4().hex[:12]
    for index, address in enumerate(addresses):
        command = worker_command(args.pipeline, index=index, env=args.env, params=args.params)
        print(f"# on {address.rsplit(':', 1)[0]} ({'chief' if index == 0 else f'worker {index}'})")
        print(f"export TF_CONFIG={shlex.quote(tf_config(addresses, index))} {JOB_ENV}={shlex.quote(job)}")
        print(shlex.join(["kedro", *command[3:]]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlpipe.launch", description=__doc__.split("\n")[0])
    parser.add_argument("--pipeline", required=True, help="the family's pipeline, e.g. cnn")
    parser.add_argument("--workers", type=int, default=2, help="workers on this machine (default 2)")
    parser.add_argument("--env", help="Kedro environment, e.g. smoke")
    parser.add_argument("--params", help="more --params for every worker, e.g. cnn.training.epochs=5")
    parser.add_argument("--restarts", type=int, default=1, help="times to start a failed job again")
    parser.add_argument("--grace-s", type=float, default=20.0, help="SIGTERM to SIGKILL, seconds")
    parser.add_argument("--log-dir", default="data/09_logs/launch", help="each worker's log, per attempt")
    parser.add_argument("--job", help="the job's name; a new one by default")
    parser.add_argument("--hosts", help="host:port,...: print each machine's TF_CONFIG and command")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.restarts < 0:
        parser.error(f"--workers {args.workers} --restarts {args.restarts}: expected ≥ 1 and ≥ 0")
    if args.hosts:
        print_hosts(args)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # SIGTERM (a scheduler, `kill`) unwinds like Ctrl+C, so the workers are stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    job = args.job or uuid.uuid4().hex[:12]
    try:
        for attempt in range(args.restarts + 1):
            logger.info("training job %s, attempt %d: %d workers", job, attempt + 1, args.workers)
            status = run_attempt(args, job, attempt)
            if status == 0:
                logger.info("training job %s finished", job)
                return 0
            if not lost_worker(status):
                logger.error(
                    "training job %s: a worker failed with an error (see its log); not restarted", job
                )
                return status
        logger.error("training job %s failed after %d attempt(s)", job, args.restarts + 1)
        return status
    except KeyboardInterrupt:
        logger.error("training job %s interrupted: its workers are stopped", job)
        return 130


if __name__ == "__main__":
    sys.exit(main())
