"""A third-party plugin package, installed into its own venv, shows in `postroom plugins`."""

import json
import os
import site
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

PLUGIN_MODULE = """
from postroom.core.hookspecs import hookimpl


class Pager:
    name = "pager"
    channels = ("sms",)

    def send(self, notification):
        pass


@hookimpl
def register_notifiers():
    return [Pager()]
"""

PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "postroom-pager"
version = "1.2.3"

[tool.setuptools]
py-modules = ["postroom_pager"]

[project.entry-points.postroom]
pager = "postroom_pager"
"""


def _make_venv_seeing_this_environment(path: Path) -> Path:
    """A new venv whose own site-packages is empty but which can import postroom."""
    venv.create(path, with_pip=False)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = sorted({sysconfig.get_path("purelib"), *site.getsitepackages()})
    lines = [f"import site; site.addsitedir({directory!r})" for directory in ours]
    (Path(purelib) / "_postroom_test_parent.pth").write_text("\n".join(lines) + "\n")
    return python


@pytest.mark.slow
def test_an_installed_third_party_plugin_is_listed(tmp_path):
    package = tmp_path / "postroom-pager"
    package.mkdir()
    (package / "postroom_pager.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    (package / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    python = _make_venv_seeing_this_environment(tmp_path / "venv")
    env = {**os.environ, "POSTROOM_DATA_DIR": str(tmp_path / "data"), "PIP_NO_INDEX": "1"}
    env.pop("POSTROOM_PLUGINS", None)
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", str(package)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert install.returncode == 0, install.stderr

    def plugins_in(interpreter) -> dict:
        listing = subprocess.run(
            [interpreter, "-m", "postroom.frontends.cli", "plugins", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return {plugin["name"]: plugin for plugin in json.loads(listing.stdout)}

    listed = plugins_in(python)
    assert listed["pager"]["version"] == "1.2.3"
    assert listed["pager"]["hooks"] == ["register_notifiers"]
    assert "log_notifier" in listed  # built-ins load through the same entry points
    assert "pager" not in plugins_in(sys.executable)  # installed in the new venv only
