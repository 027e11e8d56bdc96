"""A function's code as a Lambda Python container sees it, short of the container.

Lambda extracts the function's layers into ``/opt`` in the function's order, a later
layer's file replacing an earlier one's, and puts ``/var/task`` (the function's package)
and ``/opt/python`` on ``sys.path``
(https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html,
https://docs.aws.amazon.com/lambda/latest/dg/python-layers.html). ``sam local invoke``
builds its image the same way: each layer's folder added over ``/opt`` in order, with
``cp -rf`` for every layer after the first (``LambdaImage._generate_dockerfile`` in
``samcli/local/docker/lambda_image.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def merge_layers(layers: Iterable[Path], opt: Path) -> Path:
    """Copy each layer folder over ``opt`` in order (the later one wins); returns ``opt``."""
    opt.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        shutil.copytree(layer, opt, dirs_exist_ok=True)
    return opt


def import_handler(task: Path, opt: Path, handler: str) -> dict[str, Any]:
    """Import ``module.function`` in a clean interpreter with Lambda's two code folders alone.

    Returns ``{"callable": bool, "file": the module's file}``; a failed import fails the
    caller's assertion with the child's traceback.
    """
    module, _, function = handler.rpartition(".")
    paths = [str(task), str(opt / "python")]
    probe = (
        "import importlib, json, sys\n"
        f"sys.path[:] = {paths!r} + [p for p in sys.path if 'site-packages' not in p]\n"
        f"module = importlib.import_module({module!r})\n"
        f"print(json.dumps({{'callable': callable(getattr(module, {function!r})),"
        " 'file': module.__file__}))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_XRAY_SDK_ENABLED": "false",
    }
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed probe
        [sys.executable, "-I", "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found: dict[str, Any] = json.loads(result.stdout)
    return found
