"""What a worker restart costs, warm (forked from the fork server) and cold (a fresh interpreter).

    .venv/bin/python -m benchmarks.worker_restart --restarts 10

A submission whose `crash()` kills its worker with SIGSEGV and which imports Keras (as Q2 and
Q3 do) is called: crash, then a call that needs the new worker, `--restarts` times. Each
restart is timed from the crash's answer to the next call's; the first worker's start (the
fork server's own import of TensorFlow, or a fresh interpreter's) is reported apart.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from graders.judge import warm
from graders.judge.submission import Submission

SUBMISSION = """
import os, signal
import keras

def crash():
    os.kill(os.getpid(), signal.SIGSEGV)

def layers():
    return len(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).layers)
"""


def measure(warm_workers, restarts, folder):
    submission = Submission(folder, memory_gb=4.0, import_timeout=120, warm=warm_workers)
    started = time.monotonic()
    assert submission.call("q1", "layers").value == 1
    first = time.monotonic() - started
    seconds = []
    for _ in range(restarts):
        crashed = submission.call("q1", "crash")
        assert not crashed.ok and "SIGSEGV" in crashed.message, crashed
        started = time.monotonic()
        assert submission.call("q1", "layers").value == 1
        seconds.append(time.monotonic() - started)
    mode = submission.sandbox.description.rsplit("; ", 1)[-1]
    submission.close()
    return first, seconds, mode


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=10, help="crashes and restarts per mode (default 10)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hw9-restart-") as scratch:
        folder = Path(scratch)
        (folder / "q1.py").write_text(SUBMISSION)
        print("| workers | first start s | restart s (median) | restart s (max) | started as |\n|---|---|---|---|---|")
        for warm_workers in (True, False):
            first, seconds, mode = measure(warm_workers, args.restarts, folder)
            label = "warm" if warm_workers else "cold"
            print(f"| {label} | {first:.2f} | {statistics.median(seconds):.2f} | {max(seconds):.2f} | {mode} |", flush=True)
    if warm._local is not None:
        warm._local.close()


if __name__ == "__main__":
    main()
