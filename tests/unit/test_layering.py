"""The packages of the bot form layers, and every import points down.

    bot.domain     the model, its rules, the errors, the ports       imports nothing of the bot
    bot.security   PINs, 2FA, encryption, the payment guard          domain
    bot.wallet     the wallet's services                             domain, security
    bot.storage    the adapters behind the ports                     domain
    bot.handlers   the chat layer                                    services, render, i18n, config
    bot.ops        metrics, health, logs, backups                    services, storage, handlers
    bot.app        wiring                                            everything but the sandbox

The arrows are computed from every ``import`` in ``bot/`` (those inside functions and
``if TYPE_CHECKING:`` blocks too), so a reversed arrow fails here, and so does any cycle
between packages.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "bot"

# package -> the packages of the bot it may import (its own modules always)
ALLOWED: dict[str, set[str]] = {
    "bot": set(),  # the package's own __init__
    "bot.locales": set(),
    "bot.domain": set(),
    "bot.security": {"bot.domain"},
    "bot.wallet": {"bot.domain", "bot.security"},
    "bot.storage": {"bot.domain"},
    "bot.config": {"bot.domain"},
    "bot.i18n": set(),
    "bot.transport": set(),
    "bot.sandbox": set(),
    "bot.gateways": {"bot.domain", "bot.wallet"},
    "bot.render": {"bot.domain", "bot.i18n", "bot.wallet"},
    "bot.handlers": {
        "bot.config",
        "bot.domain",
        "bot.i18n",
        "bot.render",
        "bot.security",
        "bot.wallet",
    },
    "bot.ops": {
        "bot.config",
        "bot.domain",
        "bot.handlers",
        "bot.security",
        "bot.storage",
        "bot.wallet",
    },
    "bot.app": {
        "bot.botclient",
        "bot.config",
        "bot.ops",
        "bot.domain",
        "bot.gateways",
        "bot.handlers",
        "bot.i18n",
        "bot.security",
        "bot.intake",
        "bot.storage",
        "bot.transport",
        "bot.wallet",
    },
    "bot.intake": set(),
    "bot.botclient": {"bot.intake"},
    "bot.webhook": {
        "bot.app",
        "bot.dispatch",
        "bot.intake",
        "bot.config",
        "bot.domain",
        "bot.gateways",
        "bot.handlers",
        "bot.wallet",
    },
    "bot.dispatch": set(),
    "bot.__main__": {
        "bot.app",
        "bot.dispatch",
        "bot.ops",
        "bot.config",
        "bot.domain",
        "bot.sandbox",
        "bot.security",
        "bot.storage",
        "bot.wallet",
        "bot.webhook",
    },
}
# third-party packages the inner layers never import
FOREIGN = {
    "bot.domain": (
        "telegram",
        "aiohttp",
        "sqlite3",
        "aiosqlite",
        "asyncpg",
        "httpx",
        "prometheus_client",
    ),
    "bot.security": (
        "telegram",
        "aiohttp",
        "sqlite3",
        "aiosqlite",
        "asyncpg",
        "httpx",
        "prometheus_client",
    ),
    "bot.wallet": (
        "telegram",
        "aiohttp",
        "sqlite3",
        "aiosqlite",
        "asyncpg",
        "httpx",
        "prometheus_client",
    ),
    "bot.storage": ("telegram", "aiohttp", "httpx", "prometheus_client"),
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = ["bot", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, relative imports resolved; ``from bot import x``
    counts as ``bot.x``."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            if base == "bot":
                found.update(f"bot.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return found


def layer_of(module: str) -> str:
    """The package a module of the bot belongs to: ``bot.wallet.ledger`` → ``bot.wallet``."""
    return ".".join(module.split(".")[:2])


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        source = layer_of(module_name(path, root))
        graph[source]  # every package is a node, even one that imports nothing
        for target in imports_of(path, root):
            if target.startswith("bot.") and layer_of(target) != source:
                graph[source].add(layer_of(target))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_package_has_a_place_in_the_layers():
    assert set(package_graph()) <= set(ALLOWED), sorted(set(package_graph()) - set(ALLOWED))
    assert {"bot.domain", "bot.security", "bot.wallet", "bot.storage"} <= set(package_graph())


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package):
    wrong = package_graph().get(package, set()) - ALLOWED[package]
    assert not wrong, f"{package} imports {sorted(wrong)}"


def test_no_cycle_between_packages():
    assert find_cycle(package_graph()) is None


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of the bot it imports; ``from pkg import mod`` is an edge to
    ``pkg.mod`` when that is a module (to ``pkg`` otherwise)."""
    modules = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*parent, base] if base else parent)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[name] = {t for t in targets if t in modules} - {name}
    return graph


def test_no_cycle_between_modules_outside_the_emulator():
    """Within a package too, modules do not import each other round (the sandbox, a
    separate program, is left out)."""
    graph = {
        name: {t for t in targets if not t.startswith("bot.sandbox")}
        for name, targets in module_graph().items()
        if not name.startswith("bot.sandbox")
    }
    assert find_cycle(graph) is None


@pytest.mark.parametrize("package", sorted(FOREIGN))
def test_the_inner_layers_import_no_chat_or_database_library(package):
    bad = {}
    for path in sorted((ROOT / package.removeprefix("bot.")).rglob("*.py")):
        names = {
            name
            for name in imports_of(path)
            if any(name == f or name.startswith(f + ".") for f in FOREIGN[package])
        }
        if names:
            bad[str(path.relative_to(ROOT))] = sorted(names)
    assert not bad


def test_the_domain_imports_only_the_standard_library():
    """The bottom layer stands on Python alone: no chat, database, crypto or image library."""
    foreign = {}
    for path in sorted((ROOT / "domain").rglob("*.py")):
        names = {
            name
            for name in imports_of(path)
            if not name.startswith("bot.")
            and name.partition(".")[0] not in sys.stdlib_module_names
            and name != "__future__"
        }
        if names:
            foreign[str(path.relative_to(ROOT))] = sorted(names)
    assert not foreign


def test_the_checker_sees_a_reversed_arrow_and_a_cycle(tmp_path):
    """The checks above would catch what they are for: a tree where the domain imports
    a service, through a relative import inside a function."""
    root = tmp_path / "bot"
    for package in ("domain", "wallet"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "domain" / "model.py").write_text("def f():\n    from ..wallet import ledger\n")
    (root / "wallet" / "ledger.py").write_text("from bot.domain.model import f\n")
    graph = package_graph(root)
    assert graph["bot.domain"] == {"bot.wallet"}
    assert graph["bot.domain"] - ALLOWED["bot.domain"] == {"bot.wallet"}
    assert find_cycle(graph) == ["bot.domain", "bot.wallet", "bot.domain"]
    modules = module_graph(root)
    assert find_cycle(modules) == ["bot.domain.model", "bot.wallet.ledger", "bot.domain.model"]
    (root / "sample.py").write_text("from bot import handlers\nimport telegram.ext\n")
    assert {"bot.handlers", "telegram.ext"} <= imports_of(root / "sample.py", root)


@pytest.mark.parametrize("adapter", ["bot.storage.sqlite", "bot.storage.postgres"])
def test_each_storage_back_end_imports_only_the_domain_and_itself(adapter):
    """… and ``bot.storage.rows``, what both read the same way."""
    folder = ROOT.joinpath(*adapter.split(".")[1:])
    wrong = {
        target
        for path in folder.rglob("*.py")
        for target in imports_of(path)
        if target.startswith("bot.")
        and not target.startswith(("bot.domain", "bot.storage.rows", adapter))
    }
    assert folder.is_dir()
    assert not wrong, f"{adapter} imports {sorted(wrong)}"
