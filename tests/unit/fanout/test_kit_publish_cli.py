"""``fanout kit publish`` with nowhere to publish says so in one line."""

from __future__ import annotations

import pytest

from fanout.cli import main


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No local hub, and nothing botocore could sign with."""
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_without_a_hub_or_a_stack_it_is_one_line(no_credentials, capsys):
    assert main(["kit", "publish", "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "no local hub is running (start `fanout local up`)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_stack_without_credentials_is_one_line(no_credentials, capsys):
    assert main(["kit", "publish", "--stack-name", "hub", "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err
    assert len(err.strip().splitlines()) == 1


def test_an_endpoint_that_does_not_answer_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    argv = ["kit", "publish", "--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:1"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "http://127.0.0.1:1 is not answering" in err
    assert len(err.strip().splitlines()) == 1
