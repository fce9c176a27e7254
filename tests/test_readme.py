"""Every Python block of README.md runs, against the emulator, so no snippet can rot.

How a block is run depends on what it is (``python`` fences only; ``bash``, ``text`` and
untagged blocks are not run):

* **a pytest file**: a block with a top-level ``test_*`` function. It is written to an empty
  directory as ``test_readme_block.py`` and run with ``python -m pytest`` in a subprocess,
  twice: with pytest-asyncio disabled (``-p no:asyncio``: a user who has only what aioneo
  brings) and with pytest-asyncio in auto mode (the other common set-up). Warnings are
  errors; every test in it must pass, none may be skipped.
* **a script**: any other block, run with ``python`` in a subprocess against a fresh
  loopback :class:`~aioneo.testing.EmulatorServer`. The five ``AIONEO_*`` variables that
  ``Credentials.from_env()`` reads are set to the emulator's demo credentials, and in that
  subprocess only, the clients' default ``login_url`` (Kotak's host) is the emulator's URL,
  and their default ``config_url`` (Kotak's feed config service) the emulator's, so a
  quickstart runs as printed, with nothing added. A block that starts its own emulator
  ignores both. It must exit 0.
* **not run**: a block whose first line is ``# not run by tests/test_readme.py: <reason>``
  (the reason is required, and the test reports it as the skip reason). A block that
  imports a module that is not installed (the official SDK, an optional extra) is skipped
  the same way, naming the module.

The README's method table is checked too: every argument and default it shows exists on
both clients, and the rows listed in :data:`COMPLETE_ROWS` show every argument.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aioneo import AsyncNeoClient, NeoClient
from aioneo.testing import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

SKIP_MARKER = re.compile(r"^# not run by tests/test_readme\.py:(?P<reason>.*)$")
FENCE = re.compile(r"^```(?P<info>\S*)\s*$")
PYTHON_INFOS = {"python", "py", "python3"}

#: Run in the script's subprocess before the block: the default login host is the emulator.
PRELUDE = """\
import os, runpy, sys
import aioneo
for client in (aioneo.AsyncNeoClient, aioneo.NeoClient):
    client.__init__.__kwdefaults__["login_url"] = os.environ["README_TEST_LOGIN_URL"]
    client.__init__.__kwdefaults__["config_url"] = (
        os.environ["README_TEST_LOGIN_URL"] + "/5config/config"
    )
runpy.run_path(sys.argv[1], run_name="__main__")
"""

#: Method-table rows that must list every argument the method has (no ``...``).
COMPLETE_ROWS = {"cancel_order", "market_feed", "order_feed", "order_history", "quotes"}


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    source: str
    skip: str | None = None  # the reason, when marked not to run

    @property
    def is_pytest_file(self) -> bool:
        tree = ast.parse(self.source)
        return any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test")
            for node in tree.body
        )

    @property
    def missing_module(self) -> str | None:
        """The first top-level module the block imports that is not installed."""
        for node in ast.walk(ast.parse(self.source)):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                top = name.partition(".")[0]
                if importlib.util.find_spec(top) is None:
                    return top
        return None


def python_blocks(text: str) -> list[Block]:
    """The ``python`` fenced blocks of a Markdown text, with their skip markers."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].rstrip() != "```":
            body.append(lines[index])
            index += 1
        if index == len(lines):
            raise ValueError(f"line {start + 1}: the block opened here is never closed")
        index += 1
        if opening["info"].lower() not in PYTHON_INFOS:
            continue
        skip = None
        marker = SKIP_MARKER.match(body[0]) if body else None
        if marker is not None:
            skip = marker["reason"].strip()
            if not skip:
                raise ValueError(
                    f"line {start + 2}: '# not run by tests/test_readme.py:' needs a reason"
                )
        blocks.append(Block(start + 1, "\n".join(body) + "\n", skip))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIONEO_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


# -- the extraction itself -------------------------------------------------------------------

SAMPLE = """\
Intro.

```python
print("a script")
```

```bash
echo not python
```

```python
# not run by tests/test_readme.py: needs a live Kotak account
print("skipped")
```

```
untagged, not run
```

```py
async def test_x() -> None: ...
```
"""


def test_extraction_finds_python_blocks_only_with_their_markers() -> None:
    blocks = python_blocks(SAMPLE)
    assert [b.line for b in blocks] == [3, 11, 20]
    assert [b.skip for b in blocks] == [None, "needs a live Kotak account", None]
    assert [b.is_pytest_file for b in blocks] == [False, False, True]
    assert blocks[0].source == 'print("a script")\n'


def test_a_skip_marker_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        python_blocks("```python\n# not run by tests/test_readme.py:\nprint(1)\n```\n")


def test_an_unclosed_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="never closed"):
        python_blocks("```python\nprint(1)\n")


def test_a_missing_module_is_named() -> None:
    (block,) = python_blocks("```python\nimport aioneo\nfrom no_such_module_x import y\n```\n")
    assert block.missing_module == "no_such_module_x"


def test_the_readme_has_both_kinds_of_block() -> None:
    assert any(b.is_pytest_file for b in BLOCKS)
    assert any(not b.is_pytest_file for b in BLOCKS)


# -- running every block -----------------------------------------------------------------------


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    if block.skip is not None:
        pytest.skip(f"README.md:{block.line}: {block.skip}")
    module = block.missing_module
    if module is not None:
        pytest.skip(f"README.md:{block.line} imports {module}, which is not installed")
    where = f"README.md:{block.line}"
    if block.is_pytest_file:
        (tmp_path / "test_readme_block.py").write_text(block.source, encoding="utf-8")
        base = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"]
        for plugins in (
            ["-p", "no:asyncio"],
            ["-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"],
        ):
            result = run([*base, *plugins], cwd=tmp_path, env=clean_env())
            out = result.stdout + result.stderr
            assert result.returncode == 0, f"{where} with {plugins}:\n{out}"
            assert re.search(r"\b\d+ passed\b", result.stdout), out
            assert not re.search(r"skipped|xfail|error", result.stdout.splitlines()[-1]), out
        return
    script = tmp_path / "readme_block.py"
    script.write_text(block.source, encoding="utf-8")
    with EmulatorServer() as server:
        creds = server.emulator.credentials
        env = clean_env(
            AIONEO_CONSUMER_KEY=creds.consumer_key,
            AIONEO_MOBILE_NUMBER=creds.mobile_number,
            AIONEO_UCC=creds.ucc,
            AIONEO_MPIN=creds.mpin,
            AIONEO_TOTP_SECRET=creds.totp_secret,
            README_TEST_LOGIN_URL=server.url,
        )
        result = run(["-c", PRELUDE, str(script)], cwd=tmp_path, env=env)
    assert result.returncode == 0, f"{where}:\n{result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr}"


# -- the method table --------------------------------------------------------------------------

ROW = re.compile(r"^\| `(?P<name>[a-z_]+)\((?P<args>[^)]*)\)` \|")
UNSET = object()


def table_rows() -> dict[str, list[tuple[str, Any]]]:
    """method -> [(argument, default or UNSET)], ``...`` kept as ``("...", UNSET)``."""
    section = README.read_text(encoding="utf-8").split("## Methods", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[tuple[str, Any]]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        args: list[tuple[str, Any]] = []
        for part in filter(None, (p.strip() for p in match["args"].split(","))):
            name, eq, default = part.partition("=")
            args.append((name, ast.literal_eval(default) if eq and default else UNSET))
        rows[match["name"]] = args
    return rows


def test_the_method_table_is_read() -> None:
    rows = table_rows()
    assert "cancel_order" in rows
    assert "place_order" in rows


@pytest.mark.parametrize("client", [AsyncNeoClient, NeoClient])
def test_the_method_table_shows_only_real_arguments_and_defaults(client: type) -> None:
    for method, args in table_rows().items():
        parameters = inspect.signature(getattr(client, method)).parameters
        for name, default in args:
            if name == "...":
                continue
            assert name in parameters, f"README shows {method}({name}), which does not exist"
            real = parameters[name].default
            if default is UNSET:
                assert real is inspect.Parameter.empty, f"{method}({name}) has a default"
            else:
                assert real == default, f"README shows {method}({name}={default!r}), not {real!r}"


@pytest.mark.parametrize("client", [AsyncNeoClient, NeoClient])
@pytest.mark.parametrize("method", sorted(COMPLETE_ROWS))
def test_complete_rows_show_every_argument(client: type, method: str) -> None:
    shown = [name for name, _ in table_rows()[method]]
    real = [
        name for name in inspect.signature(getattr(client, method)).parameters if name != "self"
    ]
    assert shown == real
