"""Print a Markdown table of each implementation's median over single-threaded cv2's.

Usage: python -m benchmarks.ratio_table [RUN.json]
Without a path it reads the newest autosaved run under ./.benchmarks (pytest-benchmark's
default storage). Ratios compare medians from the same run, so machine load that shifts
every implementation alike cancels out.
"""
import argparse
import json
import sys
from pathlib import Path

from benchmarks.implementations import IMPLEMENTATIONS, KERNELS

BASELINE = "cv2_1thread"
LAYOUTS = ("gray", "rgb")


def latest_run(storage=Path(".benchmarks")):
    """The newest autosaved pytest-benchmark JSON under storage."""
    runs = sorted(storage.glob("*/*.json"), key=lambda path: path.stat().st_mtime)
    if not runs:
        raise FileNotFoundError(
            f"no saved runs under {storage.resolve()}; run `pytest benchmarks --benchmark-autosave` first"
        )
    return runs[-1]


def medians_by_case(run):
    """{(size, layout, kernel): {implementation: median seconds}} from a run's JSON."""
    cases = {}
    for bench in run["benchmarks"]:
        info = bench.get("extra_info", {})
        if "implementation" not in info:
            continue
        case = (info["size"], info["layout"], info["kernel"])
        cases.setdefault(case, {})[info["implementation"]] = bench["stats"]["median"]
    return cases


def _case_order(case):
    size, layout, kernel = case
    return size, LAYOUTS.index(layout), list(KERNELS).index(kernel)


def ratio_table(cases):
    """Markdown rows: one per case, one column per implementation timed anywhere in the run."""
    columns = [name for name in IMPLEMENTATIONS if name != BASELINE and any(name in c for c in cases.values())]
    lines = [
        "| size | image | kernel | cv2 1 thread (ms) | " + " | ".join(columns) + " |",
        "|---|---|---|---:|" + "---:|" * len(columns),
    ]
    for case in sorted(cases, key=_case_order):
        medians = cases[case]
        baseline = medians.get(BASELINE)
        cells = [
            "–" if baseline is None or name not in medians else f"{medians[name] / baseline:.2f}×"
            for name in columns
        ]
        size, layout, kernel = case
        base = "–" if baseline is None else f"{baseline * 1e3:.3f}"
        lines.append(f"| {size}² | {layout} | {kernel} | {base} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, help="pytest-benchmark JSON (default: newest autosave)")
    args = parser.parse_args(argv)
    path = args.run or latest_run()
    run = json.loads(path.read_text())
    cpu = run.get("machine_info", {}).get("cpu", {}).get("brand_raw", "unknown CPU")
    print(f"Run {path.name} on {cpu}: median time / median of cv2.filter2D with 1 thread (same run).\n")
    print(ratio_table(medians_by_case(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
