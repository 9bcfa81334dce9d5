"""Architecture guards: src/llmopt never imports prefect or the orchestration layer; tasks carry retries and
timeouts; flows only wire tasks; modules stay small."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def library_files() -> list[Path]:
    """Every module of src/llmopt, not the flows/ and tasks/ linked in for packaging."""
    root = REPO / "src" / "llmopt"
    return [p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in ("flows", "tasks")]


def test_library_never_imports_prefect():
    files = library_files()
    assert len(files) > 50
    offenders = [str(p.relative_to(REPO)) for p in files
                 if any(m == "prefect" or m.startswith("prefect.") for m in imported_modules(p))]
    assert offenders == []


def test_library_never_imports_flows_or_tasks():
    layers = ("flows", "tasks", "llmopt.flows", "llmopt.tasks")
    offenders = [str(p.relative_to(REPO)) for p in library_files()
                 if any(m == layer or m.startswith(layer + ".") for m in imported_modules(p) for layer in layers)]
    assert offenders == []


def test_modules_stay_small():
    big = {str(p.relative_to(REPO)): n for p in library_files() if (n := len(p.read_text().splitlines())) > 300}
    assert big == {}


def test_settings_are_not_read_from_the_environment_elsewhere():
    offenders = [str(p.relative_to(REPO)) for p in library_files()
                 if "os.getenv" in p.read_text() or "os.environ[" in p.read_text()
                 or "environ.get(" in p.read_text()]
    assert offenders == []


def test_every_task_declares_retries_timeout_and_cache_policy():
    for path in (REPO / "tasks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for dec in node.decorator_list:
                    if isinstance(dec, ast.Call) and getattr(dec.func, "id", None) == "task":
                        keys = {k.arg for k in dec.keywords}
                        assert {"retries", "timeout_seconds", "cache_policy"} <= keys, f"{path.name}:{node.name}"


def test_flows_only_wire_tasks():
    for path in (REPO / "flows").glob("*.py"):
        local = {m for m in imported_modules(path) if m.startswith("llmopt") and not m.startswith("llmopt.tasks.")}
        assert local <= {"llmopt.track.summary"}, f"{path.name} imports {local}"
