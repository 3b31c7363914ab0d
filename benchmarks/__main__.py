"""``python -m benchmarks [--quick] [--only NAME ...] [--plot FILE]``.

Runs every benchmark against its baseline in the same run, prints the table,
and writes it as JSON under ``benchmarks/results/`` for tracking over time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
from pathlib import Path

from benchmarks.harness import Result, Unavailable, table

BENCHMARKS = {
    "native": "benchmarks.native_launch",
    "docker": "benchmarks.docker_launch",
    "fetch": "benchmarks.fetch_throughput",
    "agent": "benchmarks.agent_load",
    "output": "benchmarks.container_output",
    "images": "benchmarks.image_launch",
    "soak": "benchmarks.output_soak",
}
RESULTS = Path(__file__).parent / "results"


async def run_all(names: list[str], quick: bool) -> tuple[list[Result], dict[str, str]]:
    results: list[Result] = []
    skipped: dict[str, str] = {}
    for name in names:
        module = importlib.import_module(BENCHMARKS[name])
        print(f"running {name}...", file=sys.stderr, flush=True)
        try:
            results.extend(await module.run(quick))
        except Unavailable as reason:
            skipped[name] = str(reason)
    return results, skipped


def plot(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(results), 1, figsize=(8, 2.2 * len(results)), squeeze=False)
    for axis, result in zip(axes[:, 0], results, strict=True):
        data = [result.samples] + ([result.baseline] if result.baseline else [])
        labels = ["dockyard"] + ([result.baseline_name] if result.baseline else [])
        axis.boxplot(data, orientation="horizontal", tick_labels=labels)
        axis.set_title(f"{result.name} ({result.unit})", fontsize=9)
    figure.tight_layout()
    figure.savefig(path)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (under two minutes)")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--plot", type=Path, help="write a PNG of the distributions")
    args = parser.parse_args()
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        parser.error("--plot needs matplotlib (pip install matplotlib)")
    started = time.time()
    results, skipped = asyncio.run(run_all(args.only, args.quick))
    print(table(results))
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    RESULTS.mkdir(exist_ok=True)
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "quick": args.quick,
        "results": [r.as_json() for r in results],
        "skipped": skipped,
    }
    out = RESULTS / f"{report['date']}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
