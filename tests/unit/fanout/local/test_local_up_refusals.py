"""`fanout local up` refuses what CloudFormation would refuse with one line, never a traceback."""

from __future__ import annotations

import pytest

from fanout.cli import main


@pytest.mark.parametrize(
    ("parameter", "line"),
    [
        ("Nope=1", "ValidationError: Parameters: [Nope] do not exist in the template"),
        ("FifoMode=yes", "ValidationError: Parameter 'FifoMode' must be one of AllowedValues"),
        ("MaxMessageBytes=10", "must be a number not less than 1024"),
        ("Stage=prod", "rule ProdReadsAnExistingStream: Stage=prod needs SourceStreamArn"),
        ("Nope", "--parameter needs Name=Value, got 'Nope'"),
        # A deployed function's AWS calls never go to another host.
        (
            "LocalEndpointUrl=https://collector.example.com",
            "Parameter LocalEndpointUrl failed to satisfy constraint: empty, or http://127.0.0.1",
        ),
    ],
)
def test_a_refused_parameter_is_one_line_and_exit_2(parameter, line, capsys, tmp_path, monkeypatch):
    # (its own state file: a hub running on this machine would refuse this start first)
    monkeypatch.setattr("fanout.local.hub.STATE_FILE", tmp_path / "fanout-local-hub.json")
    # GIVEN a parameter CloudFormation (or the template's Rules) would refuse
    # WHEN the local hub is started with it
    code = main(["local", "up", "--plain", "--logs", "-", "--parameter", parameter])
    # THEN it exits 2 with that refusal on one line of stderr, and no traceback
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("fanout local up: ")
    assert line in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
