"""Mesos (stout) durations and byte sizes: ``5secs``, ``1.5mins``, ``2GB``.

Parsing follows stout's ``Duration::parse`` and ``Bytes::parse``: a non-negative
decimal number immediately followed by a unit, no spaces, no sign. Formatting is
lossless, so ``parse(format(x)) == x``; it picks the largest unit that shows the
value exactly, which is what stout prints whenever stout's output is exact.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, localcontext
from fractions import Fraction

NANOSECONDS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "secs": 1_000_000_000,
    "mins": 60 * 1_000_000_000,
    "hrs": 3_600 * 1_000_000_000,
    "days": 86_400 * 1_000_000_000,
    "weeks": 604_800 * 1_000_000_000,
}
"""Duration units and their length, smallest first."""

BYTES: dict[str, int] = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
"""Byte-size units (base 1024, as in stout), smallest first."""

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(_NUMBER + r"([A-Za-z]+)")
_BYTES = re.compile(_NUMBER + r"([A-Za-z]+)")
_DURATION_EXAMPLES = "expected e.g. 5secs, 100ms, 1mins"
_BYTES_EXAMPLES = "expected e.g. 2GB, 512MB, 100B"


def parse_duration(text: str) -> timedelta:
    """Read a stout duration; sub-microsecond parts round to the nearest microsecond."""
    match = _DURATION.fullmatch(text)
    if match is None or match[2] not in NANOSECONDS:
        units = ", ".join(NANOSECONDS)
        hint = f"unknown unit '{match[2]}'; units: {units}" if match else _DURATION_EXAMPLES
        raise ValueError(f"invalid duration '{text}' ({hint})")
    nanoseconds = Fraction(match[1]) * NANOSECONDS[match[2]]
    try:
        return timedelta(microseconds=round(nanoseconds / 1_000))
    except OverflowError:
        raise ValueError(f"invalid duration '{text}' (too large)") from None


def format_duration(duration: timedelta) -> str:
    """Render a non-negative duration the way Mesos prints it (``1mins``, ``1.5secs``)."""
    if duration < timedelta(0):
        raise ValueError(f"negative duration {duration!r} has no Mesos form")
    nanoseconds = (duration // timedelta(microseconds=1)) * 1_000
    return _largest_exact_unit(nanoseconds, NANOSECONDS, terminating_decimals=True)


def parse_bytes(text: str) -> int:
    """Read a stout byte size (unit case-insensitive); the result must be whole bytes."""
    match = _BYTES.fullmatch(text)
    if match is None or match[2].upper() not in BYTES:
        units = ", ".join(BYTES)
        hint = f"unknown unit '{match[2]}'; units: {units}" if match else _BYTES_EXAMPLES
        raise ValueError(f"invalid byte size '{text}' ({hint})")
    size = Fraction(match[1]) * BYTES[match[2].upper()]
    if size.denominator != 1:
        raise ValueError(f"invalid byte size '{text}' (not a whole number of bytes)")
    return int(size)


def format_bytes(size: int) -> str:
    """Render a byte count as stout does: the largest unit that loses nothing (``2GB``)."""
    if size < 0:
        raise ValueError(f"negative byte size {size} has no Mesos form")
    return _largest_exact_unit(size, BYTES, terminating_decimals=False)


def _largest_exact_unit(amount: int, units: dict[str, int], *, terminating_decimals: bool) -> str:
    """``amount`` (in the smallest unit) in the largest unit that shows it exactly.

    With ``terminating_decimals`` a fractional value is allowed when its decimal
    expansion ends (``90secs`` -> ``1.5mins``, but ``70secs`` stays ``70secs``).
    """
    for unit, length in reversed(units.items()):
        if amount < length and length != 1:
            continue
        value = Fraction(amount, length)
        if value.denominator == 1:
            return f"{value.numerator}{unit}"
        if terminating_decimals and _terminates(value.denominator):
            return f"{_decimal(value)}{unit}"
    raise AssertionError("the smallest unit has length 1, so it always shows the amount exactly")


def _terminates(denominator: int) -> bool:
    """Whether 1/denominator has a finite decimal expansion (only factors 2 and 5)."""
    for factor in (2, 5):
        while denominator % factor == 0:
            denominator //= factor
    return denominator == 1


def _decimal(value: Fraction) -> str:
    """Exact decimal text of a fraction whose expansion terminates."""
    with localcontext() as context:
        context.prec = 100
        exact = Decimal(value.numerator) / Decimal(value.denominator)
    return format(exact.normalize(), "f")
