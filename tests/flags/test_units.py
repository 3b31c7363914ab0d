"""Mesos (stout) durations and byte sizes."""

from datetime import timedelta

import pytest
from dockyard.units import format_bytes, format_duration, parse_bytes, parse_duration
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5secs", timedelta(seconds=5)),
        ("1mins", timedelta(minutes=1)),
        ("6hrs", timedelta(hours=6)),
        ("2weeks", timedelta(weeks=2)),
        ("3days", timedelta(days=3)),
        ("0ns", timedelta(0)),
        ("100ms", timedelta(milliseconds=100)),
        ("250us", timedelta(microseconds=250)),
        ("1.5secs", timedelta(seconds=1.5)),
        (".5ms", timedelta(microseconds=500)),
        ("2000ns", timedelta(microseconds=2)),
        ("1500ns", timedelta(microseconds=2)),  # timedelta holds microseconds: rounds
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


def test_invalid_duration_message_shows_examples() -> None:
    with pytest.raises(
        ValueError, match=r"^invalid duration '5 parsecs' \(expected e\.g\. 5secs, 100ms, 1mins\)$"
    ):
        parse_duration("5 parsecs")


@pytest.mark.parametrize(
    "text", ["", "5", "secs", "-1secs", "+1secs", "1e3secs", " 5secs", "5secs ", "1,5secs"]
)
def test_malformed_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid duration .*expected e\.g\."):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "unit"), [("5parsecs", "parsecs"), ("5s", "s"), ("1MINS", "MINS"), ("1GB", "GB")]
)
def test_unknown_duration_unit_lists_the_units(text: str, unit: str) -> None:
    with pytest.raises(
        ValueError, match=rf"unknown unit '{unit}'; units: ns, us, ms, secs, mins, hrs, days, weeks"
    ):
        parse_duration(text)


def test_too_large_duration() -> None:
    with pytest.raises(ValueError, match="too large"):
        parse_duration("99999999999weeks")


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(0), "0ns"),
        (timedelta(microseconds=1), "1us"),
        (timedelta(milliseconds=100), "100ms"),
        (timedelta(seconds=1.5), "1.5secs"),
        (timedelta(seconds=90), "1.5mins"),  # as stout prints it
        (timedelta(seconds=70), "70secs"),  # 1.1666...mins would lose precision
        (timedelta(hours=6), "6hrs"),
        (timedelta(days=1), "1days"),
        (timedelta(weeks=1), "1weeks"),
        (timedelta(days=10), "10days"),
    ],
)
def test_format_duration(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


@pytest.mark.parametrize(
    "text", ["5secs", "1mins", "6hrs", "2weeks", "0ns", "100ms", "1.5secs", "250us", "3days"]
)
def test_duration_round_trip(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


@given(st.timedeltas(min_value=timedelta(0)))
def test_any_duration_survives_format_and_parse(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration


def test_negative_duration_has_no_mesos_form() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2GB", 2 * 1024**3),
        ("512MB", 512 * 1024**2),
        ("10KB", 10 * 1024),
        ("1TB", 1024**4),
        ("100B", 100),
        ("0B", 0),
        ("2gb", 2 * 1024**3),
        ("1.5KB", 1536),
    ],
)
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "2", "GB", "-1GB", "2 GB", "1e3B"])
def test_malformed_byte_sizes_are_rejected(text: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^invalid byte size '{text}' \(expected e\.g\. 2GB, 512MB, 100B\)$"
    ):
        parse_bytes(text)


def test_unknown_byte_unit_lists_the_units() -> None:
    with pytest.raises(ValueError, match="unknown unit 'PB'; units: B, KB, MB, GB, TB"):
        parse_bytes("1PB")


def test_fractional_bytes_are_rejected() -> None:
    with pytest.raises(ValueError, match="not a whole number of bytes"):
        parse_bytes("0.5B")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0B"),
        (100, "100B"),
        (1536, "1536B"),
        (2048, "2KB"),
        (3 * 1024**2, "3MB"),
        (2 * 1024**3, "2GB"),
        (1024**4, "1TB"),
        (2048 * 1024**4, "2048TB"),
    ],
)
def test_format_bytes_raises_the_unit_only_without_loss(size: int, text: str) -> None:
    assert format_bytes(size) == text


@pytest.mark.parametrize("text", ["2GB", "512MB", "10KB", "1TB", "100B", "0B"])
def test_bytes_round_trip(text: str) -> None:
    assert format_bytes(parse_bytes(text)) == text


@given(st.integers(min_value=0, max_value=2**70))
def test_any_byte_count_survives_format_and_parse(size: int) -> None:
    assert parse_bytes(format_bytes(size)) == size


def test_negative_byte_size_has_no_mesos_form() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_bytes(-1)
