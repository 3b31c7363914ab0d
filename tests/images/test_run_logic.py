"""Mesos's docker/runtime table: how a task's CommandInfo combines with an image's
Entrypoint and Cmd (``getLaunchCommand``), every row and column."""

from __future__ import annotations

import pytest
from dockyard.containers import LaunchError
from dockyard.messages import CommandInfo
from dockyard_mesos.image_command import image_environment, launch_argv

from tests.images.run_harness import Config

NEITHER = Config()
CMD = Config(cmd=("cmd0", "cmd1"))
ENTRYPOINT = Config(entrypoint=("ep0", "ep1"))
BOTH = Config(entrypoint=("ep0", "ep1"), cmd=("cmd0", "cmd1"))


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (CMD, ["cmd0", "cmd1"]),
        (ENTRYPOINT, ["ep0", "ep1"]),
        (BOTH, ["ep0", "ep1", "cmd0", "cmd1"]),
    ],
)
def test_no_value_and_no_arguments_run_the_image_command(image, expected):
    assert launch_argv(CommandInfo(shell=False), image) == expected


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (CMD, ["cmd0", "a", "b"]),
        (ENTRYPOINT, ["ep0", "ep1", "a", "b"]),
        (BOTH, ["ep0", "ep1", "a", "b"]),
    ],
)
def test_arguments_without_a_value_replace_the_cmd(image, expected):
    assert launch_argv(CommandInfo(shell=False, arguments=["a", "b"]), image) == expected


@pytest.mark.parametrize("image", [NEITHER, CMD, ENTRYPOINT, BOTH])
def test_a_value_ignores_the_image(image):
    assert launch_argv(CommandInfo(shell=False, value="/v"), image) == ["/v"]
    with_arguments = CommandInfo(shell=False, value="/v", arguments=["v", "a"])
    assert launch_argv(with_arguments, image) == ["/v", "a"]
    assert launch_argv(CommandInfo(shell=True, value="x y"), image) == ["/bin/sh", "-c", "x y"]
    shell_with_arguments = CommandInfo(shell=True, value="x", arguments=["ignored"])
    assert launch_argv(shell_with_arguments, image) == ["/bin/sh", "-c", "x"]


@pytest.mark.parametrize("arguments", [[], ["a"]])
def test_an_image_without_entrypoint_or_cmd_needs_a_value(arguments):
    with pytest.raises(LaunchError, match="No executable is found"):
        launch_argv(CommandInfo(shell=False, arguments=arguments), NEITHER)


@pytest.mark.parametrize("image", [NEITHER, CMD, ENTRYPOINT, BOTH])
@pytest.mark.parametrize("arguments", [[], ["a"]])
def test_a_shell_without_a_value_is_an_error(image, arguments):
    with pytest.raises(LaunchError, match="Shell specified but no command value provided"):
        launch_argv(CommandInfo(shell=True, arguments=arguments), image)


def test_image_variables_without_equals_are_skipped_and_values_keep_theirs():
    variables = ("A=1", "B", "C=x=y", "=nameless", "D=")
    assert image_environment(variables) == {"A": "1", "C": "x=y", "D": ""}
