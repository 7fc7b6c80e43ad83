"""The wheel installs anywhere: built from the repository, installed non-editable into a fresh
venv, run from an empty folder that knows nothing of the checkout.

Installing the runtime dependencies from requirements.lock into the fresh venv takes
about half a minute and needs the package index, so the venv borrows them instead: a
``.pth`` file in its site-packages appends the test environment's site-packages to
``sys.path``. Only the dependencies come from there: a ``.pth`` line is a plain path, so
the editable install's finder in that folder is never run, and the venv's own
site-packages (holding the wheel) comes first on ``sys.path``. The test checks that
``newsletter`` is imported from the venv.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

REGIONS = 6
# What a source distribution of the project holds: the build reads nothing else.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "newsletter")


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (the build writes build/ and egg-info there)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif origin.exists():
            shutil.copy2(origin, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(source)], cwd=dist)
    (built,) = dist.glob("newsletter-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (not editable) and the dependencies borrowed."""
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)], cwd=root)
    python = root / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)], cwd=root
    )
    site = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root).stdout.strip()
    )
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return root


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without our settings and without any path back to the checkout."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "SENDGRID_", "PYTHON", "VIRTUAL_ENV"))
    }
    return {**env, **extra}


def test_the_wheel_holds_every_file_the_program_reads(wheel: Path) -> None:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    needed = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in (PROJECT_ROOT / "newsletter").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    assert needed - shipped == set()
    assert {"newsletter/db/migrations/script.py.mako", "newsletter/web/templates/site.css"} <= shipped
    assert "newsletter/content/samples/regions.yaml" in shipped


def test_the_installed_program_runs_the_demo_from_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    folder = tmp_path / "anywhere"
    folder.mkdir()
    env = _clean_env(NEWSLETTER_DEMO="1")
    where = _run([str(venv / "bin" / "python"), "-c", "import newsletter; print(newsletter.__file__)"], folder, env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    daily = _run([str(venv / "bin" / "newsletter"), "daily"], folder, env)
    assert "empty database: loaded the sample content" in daily.stdout
    assert (folder / "var" / "newsletter.db").is_file()
    campaigns = sorted(path for path in (folder / "var" / "outbox").iterdir() if path.is_dir())
    assert len(campaigns) == REGIONS, daily.stdout
    assert all(list(campaign.glob("*.eml")) for campaign in campaigns), daily.stdout

    preview = _run([str(venv / "bin" / "newsletter"), "preview", "dc"], folder, env)
    html = next((folder / "var" / "preview").glob("dc-*.html"))
    assert "<html" in html.read_text(encoding="utf-8").lower(), preview.stdout


def test_the_installed_scheduler_command_exists(venv: Path, tmp_path: Path) -> None:
    result = _run([str(venv / "bin" / "newsletter"), "scheduler", "--help"], tmp_path, _clean_env())
    assert "SIGTERM" in result.stdout
