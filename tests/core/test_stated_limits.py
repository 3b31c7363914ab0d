"""The limits a usage report states: Mesos's ``_usage`` formula, for every containerizer."""

from __future__ import annotations

import math
import os

import pytest
from dockyard.messages import ResourceStatistics
from dockyard.stated_limits import StatedLimits, stated_limits

MIB = 1024 * 1024
HOST_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@pytest.mark.parametrize(
    ("given", "stated"),
    [
        (  # requests only: the cpus are no hard limit without CFS
            dict(cpus=0.5, mem_mb=64, cpus_limit=None, mem_limit_mb=None, enable_cfs=False),
            StatedLimits(cpus_soft_limit=0.5, mem_limit_bytes=64 * MIB),
        ),
        (  # CFS makes the cpus request a hard limit (its quota)
            dict(cpus=0.5, mem_mb=64, cpus_limit=None, mem_limit_mb=None, enable_cfs=True),
            StatedLimits(cpus_limit=0.5, cpus_soft_limit=0.5, mem_limit_bytes=64 * MIB),
        ),
        (  # limits are the hard ones, requests the soft ones; megabytes are whole
            dict(cpus=0.25, mem_mb=64.7, cpus_limit=1.5, mem_limit_mb=128.9, enable_cfs=True),
            StatedLimits(
                cpus_limit=1.5,
                cpus_soft_limit=0.25,
                mem_limit_bytes=128 * MIB,
                mem_soft_limit_bytes=64 * MIB,
            ),
        ),
        (  # infinite limits: the host's cpus and memory
            dict(cpus=1, mem_mb=None, cpus_limit=math.inf, mem_limit_mb=math.inf, enable_cfs=False),
            StatedLimits(
                cpus_limit=float(os.cpu_count() or 1),
                cpus_soft_limit=1,
                mem_limit_bytes=HOST_MEMORY,
            ),
        ),
        (
            dict(cpus=None, mem_mb=None, cpus_limit=None, mem_limit_mb=None, enable_cfs=True),
            StatedLimits(),
        ),
    ],
)
def test_stated_limits_follow_mesos(given, stated) -> None:
    assert stated_limits(**given) == stated


def test_stated_limits_replace_what_was_measured() -> None:
    measured = ResourceStatistics(timestamp=1.0, mem_rss_bytes=5, mem_limit_bytes=999)
    stated = StatedLimits(cpus_soft_limit=0.5).applied_to(measured)
    assert (stated.mem_rss_bytes, stated.cpus_soft_limit, stated.mem_limit_bytes) == (5, 0.5, None)
