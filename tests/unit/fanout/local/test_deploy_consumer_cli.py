"""``fanout local deploy-consumer`` refuses what it cannot do before touching any endpoint."""

from __future__ import annotations

import pytest

from fanout.cli import main

RUNNING = {"endpoint_url": "http://127.0.0.1:1", "region": "us-east-1", "embedded": True}


def test_without_a_running_hub_it_exits_2(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: None)
    code = main(["local", "deploy-consumer", str(tmp_path), "--account", "210987654321"])
    assert code == 2
    assert "no `fanout local up` is running" in capsys.readouterr().err


def test_a_hub_on_another_endpoint_is_not_one_it_can_act_for(monkeypatch, capsys, tmp_path):
    # LocalStack or an account: there the endpoint itself switches accounts and runs code.
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: {**RUNNING, "embedded": False})
    code = main(["local", "deploy-consumer", str(tmp_path), "--account", "210987654321"])
    assert code == 2


@pytest.mark.parametrize("account", ["21098765432", "abcdefghijkl", "2109876543210"])
def test_the_account_is_twelve_digits(monkeypatch, capsys, tmp_path, account):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: RUNNING)
    code = main(["local", "deploy-consumer", str(tmp_path), "--account", account])
    assert code == 2
    assert "12-digit" in capsys.readouterr().err


def test_overrides_are_name_value_pairs(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("fanout.local.hub.load_state", lambda: RUNNING)
    argv = ["local", "deploy-consumer", str(tmp_path), "--account", "210987654321"]
    code = main([*argv, "--parameter-overrides", "HubTopicArn"])
    assert code == 2
    assert "Name=Value" in capsys.readouterr().err
