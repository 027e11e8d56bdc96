"""``fanout completion SHELL`` prints a completion script that knows every command.

The bash script is loaded into a real bash (``bash -n`` for its syntax, then its
completion function called as bash calls it on Tab) and asked what follows a prefix.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest
from support.cli import run_main

from fanout.cli import build_parser

BASH = shutil.which("bash")


def top_level_commands() -> set[str]:
    """Every command ``fanout --help`` lists."""
    parser = build_parser()
    return {
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory) -> str:
    ran = run_main(["completion", "bash"])
    assert (ran.code, ran.err) == (0, ""), ran.err
    path = tmp_path_factory.mktemp("completion") / "fanout.bash"
    path.write_text(ran.out, encoding="utf-8")
    return str(path)


def complete(script: str, *words: str) -> list[str]:
    """What bash offers for the last of ``words`` (``fanout`` first), as on Tab."""
    assert BASH, "bash is needed"
    line = " ".join(words)
    program = (
        'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
        'COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; _shtab_fanout; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(  # noqa: S603 - fixed argv, no shell string from input
        [BASH, "-c", program, "bash", script, *words],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert done.stderr == "", f"{line}: {done.stderr}"
    return done.stdout.split()


def test_the_bash_script_is_valid_bash(bash_script):
    # GIVEN the printed script WHEN bash reads it without running it THEN it accepts it
    assert BASH, "bash is needed"
    checked = subprocess.run(  # noqa: S603 - fixed argv
        [BASH, "-n", bash_script], capture_output=True, text=True, check=False, timeout=30
    )
    assert checked.returncode == 0, checked.stderr


def test_the_bash_script_mentions_every_top_level_command(bash_script):
    text = Path(bash_script).read_text(encoding="utf-8")
    missing = sorted(c for c in top_level_commands() if c not in text)
    assert missing == []
    assert "complete -o bashdefault -F _shtab_fanout fanout" in text


def test_tab_completes_commands_and_flags(bash_script):
    # GIVEN the script loaded in bash WHEN Tab is pressed after a prefix THEN it offers what fits
    assert set(complete(bash_script, "fanout", "")) >= top_level_commands()
    assert complete(bash_script, "fanout", "sch") == ["schema"]
    assert complete(bash_script, "fanout", "schema", "check", "--ro") == ["--root"]
    # the old spellings still work but are not offered
    assert "--repo" not in complete(bash_script, "fanout", "schema", "check", "--")
    assert "--stack" not in complete(bash_script, "fanout", "tail", "--")


@pytest.mark.parametrize("shell", ["zsh", "tcsh"])
def test_zsh_and_tcsh_scripts_name_every_command(shell):
    ran = run_main(["completion", shell])
    assert ran.code == 0, ran.err
    missing = sorted(c for c in top_level_commands() if c not in ran.out)
    assert missing == []


def test_an_unknown_shell_is_a_usage_error():
    ran = run_main(["completion", "fish"])
    assert ran.code == 2
    assert ran.first_error_line.startswith(
        "fanout completion: argument shell: invalid choice: 'fish'"
    )
