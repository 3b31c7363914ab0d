"""Interleaved A/B measurement, statistics, targets and verdicts.

The machine is noisy, so dockyard and its baseline are measured alternately
(A B A B ...) in the same run and compared by their medians.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Measure = Callable[[], Awaitable[float]]


class Unavailable(Exception):
    """A benchmark's prerequisite (e.g. a Docker engine) is missing on this machine."""


async def interleave(
    rounds: int, dockyard: Measure, baseline: Measure
) -> tuple[list[float], list[float]]:
    """Run ``dockyard`` and ``baseline`` alternately ``rounds`` times each."""
    ours: list[float] = []
    theirs: list[float] = []
    for round_number in range(rounds):
        # Alternate who goes first so that neither always runs on a warmer machine.
        pair = (dockyard, baseline) if round_number % 2 == 0 else (baseline, dockyard)
        for measure in pair:
            value = await measure()
            (ours if measure is dockyard else theirs).append(value)
    return ours, theirs


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Target:
    """What "good enough" means for one benchmark."""

    text: str
    kind: str
    """``overhead`` (median ratio - 1 below limit), ``extra`` (median difference below
    limit), ``throughput`` (median ratio at least limit), ``below`` / ``at_least`` (the
    median against limit), ``report`` (no target)."""
    limit: float = 0.0

    def met(self, result: Result) -> bool | None:
        if self.kind == "report":
            return None
        if self.kind == "below":
            return result.median <= self.limit
        if self.kind == "at_least":
            return result.median >= self.limit
        assert result.baseline_median is not None
        if self.kind == "overhead":
            return result.median / result.baseline_median - 1 < self.limit
        if self.kind == "extra":
            return result.median - result.baseline_median < self.limit
        if self.kind == "throughput":
            return result.median / result.baseline_median >= self.limit
        raise ValueError(f"unknown target kind {self.kind}")


@dataclass
class Result:
    name: str
    unit: str
    target: Target
    samples: list[float]
    baseline: list[float] = field(default_factory=list)
    baseline_name: str = "—"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline) if self.baseline else None

    @property
    def ratio(self) -> float | None:
        base = self.baseline_median
        return None if not base else self.median / base

    @property
    def verdict(self) -> str:
        met = self.target.met(self)
        return "report" if met is None else ("met" if met else "MISSED")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "p95": self.p95,
            "baseline": self.baseline_name,
            "baseline_median": self.baseline_median,
            "ratio": self.ratio,
            "target": self.target.text,
            "verdict": self.verdict,
            "samples": self.samples,
            "baseline_samples": self.baseline,
            "note": self.note,
        }


def table(results: list[Result]) -> str:
    header = ("benchmark", "dockyard", "baseline", "ratio", "p95", "target", "verdict")
    rows = [header]
    for r in results:
        base = r.baseline_median
        rows.append(
            (
                r.name,
                f"{r.median:.4g} {r.unit}",
                "—" if base is None else f"{base:.4g} {r.unit} ({r.baseline_name})",
                "—" if r.ratio is None else f"{r.ratio:.3f}",
                f"{r.p95:.4g}",
                r.target.text,
                r.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
        for row in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
