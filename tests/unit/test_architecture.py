"""The shape of the code, checked like behaviour: the arrows between the folders
(import-linter contracts in pyproject.toml, drawn in docs/ARCHITECTURE.md), and modules and
functions small enough to read — a longer one says why in a `# Long:` comment at its top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("domain", "intake", "events", "config", "adapters", "projections", "services")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
REASON = "# Long:"


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def _modules() -> list[Path]:
    return sorted(path for folder in SOURCES for path in (ROOT / folder).rglob("*.py"))


def _states_a_reason(lines: list[str], start: int, span: int) -> bool:
    return any(line.strip().startswith(REASON) for line in lines[start : start + span])


def too_long(path: Path) -> list[str]:
    """The module itself and each function in it that is longer than allowed and says not why."""
    text = path.read_text()
    lines = text.splitlines()
    found = []
    if len(lines) > MAX_MODULE_LINES and not _states_a_reason(lines, 0, 40):
        found.append(f"{path.name}: {len(lines)} lines")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            # The reason sits right under the signature (or its docstring).
            head = node.body[0].lineno - node.lineno + 12
            if length > MAX_FUNCTION_LINES and not _states_a_reason(lines, node.lineno - 1, head):
                found.append(f"{path.name}:{node.lineno} {node.name}: {length} lines")
    return found


def test_no_module_or_function_is_long_without_a_reason() -> None:
    found = [
        f"{path.parent.relative_to(ROOT)}/{line}" for path in _modules() for line in too_long(path)
    ]
    assert found == []


def test_the_size_check_sees_long_code_and_accepts_a_reason(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    silent, explained = tmp_path / "silent.py", tmp_path / "explained.py"
    silent.write_text(f"def f() -> None:\n{body}\n" + "\n" * MAX_MODULE_LINES)
    explained.write_text(f"{REASON} one table\ndef f() -> None:\n    {REASON} one table\n{body}\n")
    assert too_long(silent) == ["silent.py: 581 lines", "silent.py:1 f: 81 lines"]
    assert too_long(explained) == []


def test_an_editable_install_prints_no_warning(tmp_path: Path) -> None:
    """`pip install -e .` (what deploy/local/setup.sh runs) into a bare environment: no
    warning from pip or from the build backend (deploy/packaging/backend.py)."""
    target = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "-q"]
    done = subprocess.run(
        [*pip, "install", "--no-deps", "--disable-pip-version-check", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "warning" not in output.lower(), output[-4000:]


def test_every_code_folder_is_an_installed_package() -> None:
    """pyproject.toml lists the packages one by one: a new folder left out of the list would
    work from the checkout and be missing from an installation."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    folders = {
        "facturier." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in SOURCES
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert folders - listed == set()
