"""The Ray path's overhead: N copies of the reference graded here and on a local Ray instance, one after the other.

    .venv/bin/python -m benchmarks.cluster_overhead --copies 8

Starts a Ray head on this machine (as many CPUs as --jobs, no dashboard), grades the
same class with `hw9-grade --jobs J` and with `hw9-grade --jobs J --cluster ray:ADDRESS`,
prints both rows (benchmarks/class_throughput.py's table) and the ratio of their wall
times, then stops Ray. CPU on the Ray row counts only the driver: the nodes' processes
are Ray's children, not the driver's.
"""
import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.class_throughput import HEADER, HERE, Measured, grade

RAY = Path(sys.executable).with_name("ray")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8, help="copies of the reference in the class (default 8)")
    parser.add_argument("--jobs", type=int, default=2, help="judges at once, locally and on the cluster (default 2)")
    args = parser.parse_args(argv)
    if args.copies < 1 or args.jobs < 1:
        parser.error(f"--copies and --jobs must be at least 1, got --copies={args.copies} --jobs={args.jobs}")
    port = _free_port()
    # A cluster with token authentication; the driver must send the token (Ray 2.60 no longer makes one itself).
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    subprocess.run([str(RAY), "start", "--head", f"--port={port}", f"--num-cpus={args.jobs}", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True)
    try:
        with tempfile.TemporaryDirectory(prefix="hw9-cluster-overhead-") as scratch:
            rows = []
            for label, extra in (("local", []), ("ray", ["--cluster", f"ray:127.0.0.1:{port}"])):
                wall, cpu = grade(HERE, args.copies, args.jobs, extra, Path(scratch))
                rows.append(Measured(label, args.copies, args.jobs, wall, cpu))
                print(rows[-1].row(), flush=True)
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True)
    print(HEADER)
    print("\n".join(row.row() for row in rows))
    print(f"Ray path / local wall time: {rows[1].wall / rows[0].wall:.2f}x")


if __name__ == "__main__":
    main()
