"""The shape of the code: every wing's map names its modules; `--help` stays light.

The import direction itself is checked by `lint-imports` (contracts in pyproject.toml).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(
    init.parent
    for top in ("campaigns", "workers")
    for init in (ROOT / top).rglob("__init__.py")
    if "migrations" not in init.parts
)


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_package_docstring_names_every_module_in_it(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
    assert docstring, f"{package.relative_to(ROOT)}/__init__.py has no docstring"
    members = [p.stem for p in package.glob("*.py") if p.stem not in {"__init__", "__main__"}] + [
        p.name for p in package.iterdir() if (p / "__init__.py").exists()
    ]
    unnamed = [m for m in members if f"`{m}" not in docstring]
    assert not unnamed, f"{package.relative_to(ROOT)}/__init__.py does not describe {unnamed}"


def test_help_imports_no_database_or_broker_library() -> None:
    code = (
        "import sys\n"
        "from campaigns.cli import build_app\n"
        "try:\n"
        "    build_app()(['--help'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = sorted({m.split('.')[0] for m in sys.modules}\n"
        "                   & {'sqlalchemy', 'sqlmodel', 'celery', 'kombu', 'redis', 'httpx'})\n"
        "    print('HEAVY', heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout
    assert "HEAVY []" in result.stderr
