"""``fanout schema check`` on a git repository: a producer's breaking change fails CI until it is versioned.

GIVEN a contract ``user`` v1 committed and tagged v1.0.0,
WHEN the producer removes ``fullname`` from v1, THEN the check fails naming the field and
the consumers whose filter policies admit ``user`` events, with their owners;
WHEN instead v2 carries the change and the contract the up step from v1, THEN it passes,
saying whether the down step exists.
"""

from __future__ import annotations

import types

import pytest
from support.cli import run_fanout, run_main
from support.fresh_clone import ROOT

from fanout.schema.sources import SourceError, contracts_in_work_tree, latest_tag
from tests.support.contract_repos import ContractRepo

V1 = """
from schemas.entities import EntityContract, EntityModel


class UserV1(EntityModel):
    __entity__ = "user"
    __version__ = 1
    fullname: str
    email: str


CONTRACT = EntityContract(entity="user", models=(UserV1,))
"""

V1_WITHOUT_FULLNAME = """
from schemas.entities import EntityContract, EntityModel


class UserV1(EntityModel):
    __entity__ = "user"
    __version__ = 1
    firstname: str | None = None
    email: str


CONTRACT = EntityContract(entity="user", models=(UserV1,))
"""

V2 = """
from schemas.entities import EntityContract, EntityModel


class UserV1(EntityModel):
    __entity__ = "user"
    __version__ = 1
    fullname: str
    email: str


class UserV2(EntityModel):
    __entity__ = "user"
    __version__ = 2
    firstname: str
    lastname: str
    email: str


def split(item):
    first, _, last = item.pop("fullname").partition(" ")
    return {**item, "firstname": first, "lastname": last}


def join(item):
    item = dict(item)
    item["fullname"] = f"{item.pop('firstname')} {item.pop('lastname')}".strip()
    return item


CONTRACT = EntityContract(entity="user", models=(UserV1, UserV2), up={1: split}{down})
"""

TEMPLATE = """
Resources:
  BillingConsumer:
    Type: AWS::Serverless::Application
    Properties:
      Location: consumers/kit/template.yaml
      Parameters:
        ConsumerName: billing
        Owner: billing-team
        FilterPolicy: '{"entity": ["user", "order"]}'
  SearchConsumer:
    Type: AWS::Serverless::Application
    Properties:
      Location: consumers/kit/template.yaml
      Parameters:
        ConsumerName: search
        FilterPolicy: '{"entity": ["product"]}'
  AuditConsumer:
    Type: AWS::Serverless::Application
    Properties:
      Location: consumers/kit/template.yaml
      Parameters:
        ConsumerName: audit
        FilterPolicy: '{"entity": ["user"], "changed": ["email"]}'
"""


@pytest.fixture
def repo(tmp_path):
    """A repository whose v1.0.0 release holds the user contract v1 and three consumers."""
    repo = ContractRepo.create(tmp_path / "repo")
    repo.write("template.yaml", TEMPLATE)
    repo.contract("user", V1)
    repo.commit("user contract v1", tag="v1.0.0")
    return repo


def _check(repo: ContractRepo, *extra: str):
    return run_fanout(["schema", "check", "--root", str(repo.root), *extra])


class TestRemovingAField:
    """The classic failure: a field removed under the consumers that read it."""

    def test_the_check_fails_naming_the_field_and_the_consumers(self, repo):
        repo.contract("user", V1_WITHOUT_FULLNAME)
        ran = _check(repo)
        assert ran.code == 1, ran.out
        lines = ran.out.splitlines()
        assert any(
            line.startswith("BREAKING user v1: fullname: field removed") for line in lines
        ), ran.out
        assert "    billing (owner billing-team): receives" in ran.out
        assert "    audit (owner unknown): may receive, depends on changed" in ran.out
        assert "search" not in ran.out

    def test_json_names_the_same(self, repo):
        repo.contract("user", V1_WITHOUT_FULLNAME)
        ran = _check(repo, "--json")
        assert ran.code == 1
        document = ran.document()
        assert document["against"] == "v1.0.0"
        assert {(b["path"], b["rule"]) for b in document["breaking"]} == {
            ("fullname", "field removed")
        }
        assert [c["consumer"] for c in document["consumers"]["user"]] == ["audit", "billing"]

    def test_backward_mode_alone_lets_a_removal_through(self, repo):
        """Backward (new readers of old items) does not mind a field removed: Confluent's rule."""
        repo.contract("user", V1_WITHOUT_FULLNAME)
        assert _check(repo, "--mode", "backward").code == 0


class TestVersionedChange:
    """The same change as v2, with the up step from v1, passes."""

    def test_v2_with_an_up_step_passes_and_says_the_down_step_is_missing(self, repo):
        repo.contract("user", V2.replace("{down}", ""))
        ran = _check(repo)
        assert ran.code == 0, ran.out
        assert "user v1 -> v2: fullname: field removed" in ran.out
        assert "no down step to v1: consumers written for v1 break" in ran.out
        assert "compatible" in ran.out.splitlines()[-1]

    def test_with_the_down_step_too_it_says_so(self, repo):
        repo.contract("user", V2.replace("{down}", ", down={1: join}"))
        ran = _check(repo)
        assert ran.code == 0, ran.out
        assert "down step to v1 exists" in ran.out

    def test_v2_without_the_up_step_fails(self, repo):
        repo.contract("user", V2.replace("up={1: split}{down}", ""))
        ran = _check(repo)
        assert ran.code == 1
        assert "no up step from v1" in ran.out


class TestStaleExport:
    """A model changed without `make schemas` fails: the check compares what was exported."""

    def test_a_model_edited_but_not_exported(self, repo):
        repo.write("schemas/entities/user.py", V1_WITHOUT_FULLNAME)
        ran = _check(repo)
        assert ran.code == 1
        assert "STALE user v1: the export differs from UserV1" in ran.out
        assert "run make schemas" in ran.out.splitlines()[-1]

    def test_a_new_model_without_its_export(self, repo):
        repo.write("schemas/entities/user.py", V2.replace("{down}", ""))
        ran = _check(repo)
        assert ran.code == 1
        assert "STALE user v2: UserV2 has no export" in ran.out


class TestUsage:
    """Exit 2, with one line saying why, when there is nothing to compare with."""

    def test_no_tag(self, tmp_path):
        repo = ContractRepo.create(tmp_path / "untagged")
        ran = run_main(["schema", "check", "--root", str(repo.root)])
        assert ran.code == 2
        assert ran.err.strip() == (
            "fanout: no release tag to compare with (none reachable from HEAD but HEAD's own);"
            " pass --against REF"
        )

    def test_no_tag_but_a_ref_given(self, tmp_path):
        repo = ContractRepo.create(tmp_path / "untagged")
        assert _check(repo, "--against", "HEAD").code == 0

    def test_unknown_ref(self, repo):
        ran = run_main(["schema", "check", "--root", str(repo.root), "--against", "v9.9.9"])
        assert ran.code == 2
        assert "unknown git ref 'v9.9.9'" in ran.err

    def test_not_a_repository(self, tmp_path):
        ran = run_main(["schema", "check", "--root", str(tmp_path)])
        assert ran.code == 2
        assert "is not in a git repository" in ran.err

    def test_the_old_repo_flag_still_works_with_a_note(self, repo):
        repo.contract("user", V1_WITHOUT_FULLNAME)
        ran = run_main(["schema", "check", "--repo", str(repo.root)])
        assert ran.code == 1, ran.err
        assert ran.first_error_line == "note: `fanout schema check --repo` is now --root"


class TestTheReleaseToCompareWith:
    """The default ref is the last release before HEAD's own tag: a release is checked against the one before it."""

    def test_a_tagged_head_is_compared_with_the_tag_before(self, repo):
        # GIVEN v1.0.0, then a breaking change committed and tagged v1.1.0 (a release pipeline's checkout)
        repo.contract("user", V1_WITHOUT_FULLNAME)
        repo.commit("drop fullname", tag="v1.1.0")
        # WHEN the check runs on the clean tagged HEAD THEN it compares with v1.0.0 and fails
        assert latest_tag(repo.root) == "v1.0.0"
        ran = _check(repo)
        assert ran.code == 1, ran.out
        assert "against v1.0.0" in ran.out
        assert "BREAKING user v1: fullname: field removed" in ran.out

    def test_an_untagged_head_is_compared_with_the_last_tag(self, repo):
        repo.commit("after the release")
        assert latest_tag(repo.root) == "v1.0.0"

    def test_uncommitted_contract_changes_on_a_tagged_head_are_compared_with_its_tag(self, repo):
        # GIVEN HEAD tagged v1.0.0 and an edit not committed: the tree is a change to that release
        repo.write("schemas/entities/user.py", V1_WITHOUT_FULLNAME)
        assert latest_tag(repo.root) == "v1.0.0"

    def test_a_single_tagged_commit_has_nothing_before_it(self, tmp_path):
        repo = ContractRepo.create(tmp_path / "one")
        repo.git("tag", "v1.0.0")
        assert latest_tag(repo.root) is None
        ran = run_main(["schema", "check", "--root", str(repo.root)])
        assert (ran.code, ran.first_error_line) == (
            2,
            (
                "fanout: no release tag to compare with (none reachable from HEAD but HEAD's own);"
                " pass --against REF"
            ),
        )


class TestUnreadableContracts:
    """A malformed export or a contract module that does not load: one line naming the file, exit 2."""

    def test_a_malformed_export_in_the_work_tree(self, repo):
        repo.write("schemas/json/entities/user.v1.schema.json", "{not json")
        ran = run_main(["schema", "check", "--root", str(repo.root)])
        assert ran.code == 2, ran.err
        assert ran.first_error_line.startswith(
            f"fanout: the exported schema {repo.root}/schemas/json/entities/user.v1.schema.json"
            " is not JSON"
        ), ran.err
        assert "Traceback" not in ran.err

    def test_a_malformed_export_at_the_ref(self, repo):
        repo.write("schemas/json/entities/user.v1.schema.json", "[1, 2")
        repo.commit("broken export", tag="v1.0.1")
        repo.contract("user", V1)
        repo.commit("export again")
        ran = run_main(["schema", "check", "--root", str(repo.root), "--against", "v1.0.1"])
        assert ran.code == 2, ran.err
        assert ran.first_error_line.startswith(
            "fanout: the exported schema schemas/json/entities/user.v1.schema.json at v1.0.1"
            " is not JSON"
        ), ran.err

    def test_a_contract_module_that_does_not_load(self, repo):
        repo.write("schemas/entities/user.py", "from schemas.entities import Nope\n")
        ran = run_main(["schema", "check", "--root", str(repo.root)])
        assert ran.code == 2, ran.err
        assert ran.first_error_line.startswith(
            f"fanout: contract module {repo.root.resolve()}/schemas/entities/user.py does not load"
        ), ran.err
        assert len(ran.err.splitlines()) == 1

    def test_this_checkouts_own_module_that_does_not_import(self, monkeypatch):
        # GIVEN this checkout's contract modules, imported as the package, failing to import
        def broken(name, package=None):
            raise ImportError(f"cannot import {name}")

        monkeypatch.setattr(
            "fanout.schema.sources.importlib", types.SimpleNamespace(import_module=broken)
        )
        # WHEN they are read THEN the failure names the module, as a usage error of the check
        with pytest.raises(
            SourceError, match=r"contract module .*schemas/entities/\w+\.py does not load"
        ):
            contracts_in_work_tree(ROOT)
