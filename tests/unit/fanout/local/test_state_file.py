"""One state file per machine: a second `fanout local up` never takes it from a running hub.

Every other command finds the running hub through ``$TMPDIR/fanout-local-hub.json``.
A second hub must refuse while the first runs, replace the file of one that died, and
a hub must delete the file on stop only while it is still its own.
"""

from __future__ import annotations

import json
import os

import pytest

from fanout.cli import main
from fanout.local import hub as local_hub
from tests.support.hub_state import dead_pid, silent_endpoint, write_state


@pytest.fixture
def state_file(tmp_path, monkeypatch):
    path = tmp_path / "fanout-local-hub.json"
    monkeypatch.setattr(local_hub, "STATE_FILE", path)
    return path


class TestASecondLocalUp:
    def test_it_refuses_while_the_first_hub_runs(self, state_file, endpoint, capsys):
        # GIVEN the state file of a hub whose process lives and whose endpoint answers
        first = write_state(state_file, endpoint_url=endpoint, table_name="Orders")
        # WHEN a second hub is started
        code = main(["local", "up", "--plain", "--logs", "-"])
        # THEN it exits 2 with one line naming the running hub, and leaves its file alone
        err = capsys.readouterr().err
        assert code == 2
        assert err.startswith("fanout local up: a local hub is already running at ")
        assert endpoint in err
        assert f"pid {first['pid']}" in err
        assert len(err.strip().splitlines()) == 1
        assert json.loads(state_file.read_text()) == first

    @pytest.mark.parametrize(
        "stale",
        [
            pytest.param(lambda ep: {"pid": dead_pid(), "endpoint_url": ep}, id="dead-pid"),
            pytest.param(
                lambda _: {"pid": os.getpid(), "endpoint_url": silent_endpoint()},
                id="no-answer",
            ),
        ],
    )
    def test_it_replaces_a_stale_file_with_a_note(self, state_file, endpoint, stale, capsys):
        # GIVEN the state file of a hub that no longer runs (dead process, or silent endpoint)
        old = write_state(state_file, **stale(endpoint))
        # WHEN a hub is started (here one AWS refuses, so it stops right after the check)
        code = main(["local", "up", "--plain", "--logs", "-", "--parameter", "FifoMode=yes"])
        # THEN it said it replaces the stale file, went on to start, and did not
        # delete a file it did not write
        out, err = capsys.readouterr()
        assert f"note: replacing {state_file}" in out
        assert f"pid {old['pid']}" in out
        assert code == 2
        assert "FifoMode" in err
        assert json.loads(state_file.read_text()) == old

    def test_a_demo_runs_beside_a_running_hub(self, state_file, endpoint, capsys):
        # GIVEN a running hub WHEN `--demo` (which writes no state file) starts with a
        # refused parameter THEN it is not refused for the running hub
        write_state(state_file, endpoint_url=endpoint)
        code = main(["local", "up", "--demo", "--plain", "--logs", "-", "--parameter", "Nope=1"])
        err = capsys.readouterr().err
        assert code == 2
        assert "already running" not in err
        assert "Nope" in err


class TestStop:
    def test_a_hub_deletes_its_own_state_file(self, state_file, endpoint):
        # GIVEN the file this process wrote for this endpoint
        write_state(state_file, endpoint_url=endpoint)
        # WHEN it forgets its state THEN the file is gone
        assert local_hub.forget_state(endpoint)
        assert not state_file.exists()

    @pytest.mark.parametrize(
        "theirs",
        [
            pytest.param({"pid": 1}, id="another-process"),
            pytest.param({"endpoint_url": "http://127.0.0.1:1"}, id="another-endpoint"),
        ],
    )
    def test_a_hub_leaves_another_hubs_state_file(self, state_file, endpoint, theirs):
        # GIVEN a file another hub wrote since (another pid, or another endpoint)
        written = write_state(state_file, **{"endpoint_url": endpoint, **theirs})
        # WHEN this hub stops THEN that file is kept
        assert not local_hub.forget_state(endpoint)
        assert json.loads(state_file.read_text()) == written

    def test_a_hub_that_failed_to_start_leaves_the_file(self, state_file, endpoint):
        # GIVEN another hub's file WHEN a hub whose start AWS refuses is stopped
        written = write_state(state_file, endpoint_url=endpoint, pid=1)
        hub = local_hub.LocalHub(parameters={"Nope": "1"}, write_state=True)
        with pytest.raises(Exception, match="Nope"):
            hub.start()
        hub.stop()
        # THEN the running hub's file is still there
        assert json.loads(state_file.read_text()) == written


class TestAlive:
    def test_a_live_process_and_an_answering_endpoint(self, endpoint):
        assert local_hub.hub_alive({"pid": os.getpid(), "endpoint_url": endpoint})

    def test_a_dead_process(self, endpoint):
        assert not local_hub.hub_alive({"pid": dead_pid(), "endpoint_url": endpoint})

    def test_a_silent_endpoint(self):
        assert not local_hub.hub_alive({"pid": os.getpid(), "endpoint_url": silent_endpoint()})
