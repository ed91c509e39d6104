"""What `python -m build` makes of this tree, and that the wheel works once installed.

The build runs offline, with this venv's setuptools (`--no-isolation`), on a copy of the tree
(so nothing is written into the checkout): first the sdist, then the wheel from the unpacked sdist,
as `python -m build` does, which proves the sdist holds what the wheel needs. The wheel is then
installed with `--no-deps --no-index` into a fresh venv. Its dependencies come from this venv
without amqpd itself: a directory of links to every entry of this venv's site-packages except
amqpd's own (its dist-info and the editable install's hooks), added to the fresh venv's path by a
.pth file. So the fresh venv gets amqpd only from the wheel, and the dependencies at exactly the
versions the suite runs with, without a network (`--system-site-packages` would not do: this
venv is not the system's site-packages, and it has amqpd installed from the checkout).
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
import trove_classifiers
from packaging.requirements import Requirement

import amqpd

ROOT = Path(__file__).resolve().parents[2]
# what a checkout holds besides its source: the venv, git, earlier build outputs, caches
NOT_SOURCE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                    ".pytest_cache", ".hypothesis", "node_modules")
BROKER_ROUND_TRIP = '''
import httpx
import pika
from amqpd.testing import Broker

with Broker() as broker:
    channel = pika.BlockingConnection(pika.URLParameters(broker.url)).channel()
    channel.queue_declare("q")
    channel.basic_publish("", "q", b"from the wheel")
    method, properties, body = channel.basic_get("q", auto_ack=True)
    console = httpx.get(broker.management_url + "/")  # the web console's static files, package data
    # the broker logs to standard output too: the line that matters is marked
    print("seen:", body.decode(), console.status_code, "<title>" in console.text, sep="|")
'''


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) as `python -m build` makes them from a copy of this tree."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", work / "dist", source)
    sdist, = (work / "dist").glob("amqpd-*.tar.gz")
    wheel, = (work / "dist").glob("amqpd-*-py3-none-any.whl")
    return sdist, wheel


def package_files() -> set[str]:
    """Every file of the amqpd package in the checkout (Python or not), as paths in a wheel; not
    the compiled modules scripts/build-accelerated may have put beside them (not sources)."""
    return {path.relative_to(ROOT).as_posix() for path in (ROOT / "amqpd").rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so"}


def test_the_wheel_has_complete_metadata_entry_points_and_package_data(built: tuple[Path, Path]):
    sdist, wheel = built
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert wheel.name == f"amqpd-{amqpd.__version__}-py3-none-any.whl"  # pure Python: no compiler
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"amqpd-{amqpd.__version__}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert (metadata["Name"], metadata["Version"]) == ("amqpd", amqpd.__version__)
    assert metadata["Summary"] == project["description"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().strip() == (ROOT / "README.md").read_text().strip()
    assert metadata["Requires-Python"] == ">=3.11" and metadata["Author"]
    classifiers = set(metadata.get_all("Classifier"))
    assert {"Framework :: Pytest", "Programming Language :: Python :: 3.11"} <= classifiers
    assert classifiers <= trove_classifiers.classifiers  # PyPI refuses an upload with any other
    required = [Requirement(line) for line in metadata.get_all("Requires-Dist")]
    assert {(r.name, r.specifier) for r in required if not r.marker} == {
        (r.name, r.specifier) for r in map(Requirement, project["dependencies"])}
    assert "[console_scripts]\namqpctl = amqpd.ctl:main\namqpd = amqpd.cli:main\n" in entry_points
    assert "[pytest11]\namqpd = amqpd.testing.pytest_plugin\n" in entry_points
    ours = {name for name in names if not name.startswith(f"{info}/")}
    assert ours == package_files()  # every module and the console's static files; nothing else
    assert {"amqpd/management/console/static/index.html", "amqpd/management/console/static/console.js"} <= ours


def test_the_sdist_holds_the_package_readme_and_docs_but_no_tests(built: tuple[Path, Path]):
    sdist, _ = built
    top = f"amqpd-{amqpd.__version__}"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    assert {"pyproject.toml", "README.md", "PKG-INFO", "docs/testing.md"} <= names
    assert package_files() <= names
    assert not {name for name in names if name.startswith(("tests", ".venv", ".git", "build/"))}
    assert not {name for name in names if "__pycache__" in name or name.endswith(".pyc")}


@pytest.fixture(scope="module")
def installed(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (--no-deps, --no-index) and the dependencies linked."""
    _, wheel = built
    work = tmp_path_factory.mktemp("installed")
    venv = work / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    dependencies = work / "dependencies"
    dependencies.mkdir()
    for site in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}:
        for entry in Path(site).iterdir():
            if not entry.name.startswith(("amqpd", "__editable__")) and not (dependencies / entry.name).exists():
                (dependencies / entry.name).symlink_to(entry)
    theirs = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    (Path(theirs) / "dependencies.pth").write_text(f"{dependencies}\n")
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check"]
    run(*pip, "install", "--no-deps", "--no-index", wheel)
    run(*pip, "check")  # every Requires-Dist of amqpd is met by the linked dependencies
    return venv


def outside_env() -> dict[str, str]:
    """This process's environment without what points into the checkout."""
    return {key: value for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS") and not key.startswith("PYTEST_XDIST")}


def test_the_installed_wheel_runs_its_commands_a_broker_and_the_plugin(installed: Path, tmp_path: Path):
    bin_dir, env = installed / "bin", outside_env()
    where = run(bin_dir / "python", "-c", "import amqpd; print(amqpd.__file__)", cwd=tmp_path, env=env)
    assert where.startswith(str(installed))  # the wheel's amqpd, not the checkout's
    assert run(bin_dir / "amqpd", "--version", cwd=tmp_path, env=env).strip() == f"amqpd {amqpd.__version__} (interpreted)"  # the wheel holds no compiled modules
    assert run(bin_dir / "amqpctl", "--help", cwd=tmp_path, env=env).startswith("Usage\n\namqpctl [--node")
    script = tmp_path / "round_trip.py"
    script.write_text(BROKER_ROUND_TRIP)
    output = run(bin_dir / "python", script, cwd=tmp_path, env=env).splitlines()
    assert [line for line in output if line.startswith("seen:")] == ["seen:|from the wheel|200|True"]
    pytest = [bin_dir / "python", "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"]
    assert "amqpd_broker [session scope]" in run(*pytest, "-p", "amqpd", cwd=tmp_path, env=env)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # now only -p amqpd, the entry point's name, loads it
    fixtures = run(*pytest, "-p", "amqpd", cwd=tmp_path, env=env)
    assert "amqpd_broker [session scope]" in fixtures and "amqp_url" in fixtures
    assert "amqpd_broker" not in run(*pytest, cwd=tmp_path, env=env)
