"""A deployed project's layers are built as ``sam build`` builds them, not taken from the raw folder.

``BuildMethod: makefile`` runs ``build-<LogicalId>`` of the Makefile in ``ContentUri`` (or
``Metadata.ContextPath``) with ``ARTIFACTS_DIR``; a layer without ``Metadata`` is the
folder as it is; Lambda puts the layer's ``python/`` folder on ``sys.path``.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html
https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fanout.local.consumer import LayerBuildError, build_layers

MAKEFILE = """\
build-CodeLayer:
\tmkdir -p "$(ARTIFACTS_DIR)/python"
\tcp -R pkg "$(ARTIFACTS_DIR)/python/"
\techo built > "$(ARTIFACTS_DIR)/python/marker.txt"
"""


def project(tmp_path: Path, metadata: str, makefile: str = MAKEFILE) -> Path:
    """A template with one layer CodeLayer (ContentUri: src/) and its Makefile."""
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (src / "Makefile").write_text(makefile, encoding="utf-8")
    template = tmp_path / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  CodeLayer:\n"
        "    Type: AWS::Serverless::LayerVersion\n"
        f"{metadata}"
        "    Properties:\n"
        "      ContentUri: src/\n",
        encoding="utf-8",
    )
    return template


def test_a_makefile_layer_is_its_build_targets_python_folder(tmp_path):
    template = project(tmp_path, "    Metadata:\n      BuildMethod: makefile\n")
    built = build_layers(template, tmp_path / "build")
    folder = Path(built[str(tmp_path / "src")])
    assert folder == tmp_path / "build" / "CodeLayer" / "python"
    assert (folder / "marker.txt").read_text().strip() == "built"
    assert (folder / "pkg" / "__init__.py").is_file()


def test_the_context_path_names_the_makefiles_folder(tmp_path):
    template = project(
        tmp_path, "    Metadata:\n      BuildMethod: makefile\n      ContextPath: builder\n"
    )
    (tmp_path / "builder").mkdir()
    (tmp_path / "builder" / "Makefile").write_text(
        'build-CodeLayer:\n\tmkdir -p "$(ARTIFACTS_DIR)/python/from_context"\n', encoding="utf-8"
    )
    folder = Path(build_layers(template, tmp_path / "build")[str(tmp_path / "src")])
    assert (folder / "from_context").is_dir()


def test_a_failed_build_names_the_layer_and_quotes_the_output(tmp_path):
    failing = (
        "build-CodeLayer:\n\t@echo 'ERROR: No matching distribution found for nope'\n\t@false\n"
    )
    template = project(tmp_path, "    Metadata:\n      BuildMethod: makefile\n", failing)
    with pytest.raises(LayerBuildError) as refused:
        build_layers(template, tmp_path / "build")
    message = str(refused.value)
    assert message.startswith("layer CodeLayer: make build-CodeLayer failed")
    assert "No matching distribution found for nope" in message
    assert "\n" not in message


def test_a_build_with_no_python_folder_is_refused(tmp_path):
    empty = 'build-CodeLayer:\n\ttouch "$(ARTIFACTS_DIR)/nothing"\n'
    template = project(tmp_path, "    Metadata:\n      BuildMethod: makefile\n", empty)
    with pytest.raises(LayerBuildError, match="no python/ folder"):
        build_layers(template, tmp_path / "build")


def test_a_runtime_build_copies_the_folder_under_python(tmp_path):
    template = project(tmp_path, "    Metadata:\n      BuildMethod: python3.13\n")
    folder = Path(build_layers(template, tmp_path / "build")[str(tmp_path / "src")])
    assert (folder / "pkg" / "__init__.py").is_file()


def test_a_layer_without_metadata_is_its_folder(tmp_path):
    # sam build copies it as it is: nothing to build (the hub's own layers, ContentUri: .).
    template = project(tmp_path, "")
    assert build_layers(template, tmp_path / "build") == {}
