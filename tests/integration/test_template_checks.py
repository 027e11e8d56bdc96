"""The templates pass every static check CI knows: cfn-lint, ``sam validate --lint``, checkov.

Each check runs the real tool on ``template.yaml`` and the consumer kit; any
suppression lives next to the resource it concerns, with its reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ("template.yaml", "consumers/kit/template.yaml")
BIN = Path(sys.executable).parent


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    # S603: argv is fixed by the test, no shell involved.
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603


class TestCfnLint:
    """cfn-lint reports nothing at all, warnings and informational findings included."""

    def test_templates_have_no_findings(self):
        # GIVEN both templates WHEN cfn-lint checks them with informational rules on
        result = run(str(BIN / "cfn-lint"), "--include-checks", "I", "--", *TEMPLATES)
        # THEN it finds nothing
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == ""


class TestSamValidate:
    """SAM's own validation accepts the hub template (the kit is covered by cfn-lint above)."""

    def test_valid_sam_template(self):
        result = run(str(BIN / "sam"), "validate", "--lint", "--template", "template.yaml")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "is a valid SAM Template" in result.stdout + result.stderr


class TestCheckov:
    """checkov fails no check; every skip is in the template with its justification."""

    def test_zero_failed_checks(self):
        result = run(
            str(BIN / "checkov"),
            *[arg for t in TEMPLATES for arg in ("-f", t)],
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",  # no network: use the bundled checks only
        )
        reports = json.loads(result.stdout)
        reports = reports if isinstance(reports, list) else [reports]
        summary = reports[0]["summary"]
        failed = [
            (c["check_id"], c["resource"]) for r in reports for c in r["results"]["failed_checks"]
        ]
        assert failed == []
        assert summary["passed"] > 0
        for report in reports:
            for skipped in report["results"].get("skipped_checks", []):
                # a skip without a reason is not a justified skip
                assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped


class TestSamConfig:
    """samconfig.toml has the three environments and only names real parameters."""

    def test_environments(self):
        import tomllib

        from fanout.deploy.template import load_template

        config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
        parameters = set(load_template(ROOT / "template.yaml")["Parameters"])
        assert config["version"] == 0.1
        names = set()
        for env in ("default", "dev", "prod"):
            deploy = config[env]["deploy"]["parameters"]
            names.add(config[env]["global"]["parameters"]["stack_name"])
            # nested applications (the consumer kit) need CAPABILITY_AUTO_EXPAND
            assert set(deploy["capabilities"].split()) >= {
                "CAPABILITY_IAM",
                "CAPABILITY_AUTO_EXPAND",
            }
            overrides = dict(pair.split("=", 1) for pair in deploy["parameter_overrides"].split())
            assert set(overrides) <= parameters
        assert len(names) == 3
        assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
