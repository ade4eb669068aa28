"""`make mutation`: mutation testing of the modules that carry the README's guarantees.

    python -m local.mutation [--max-children N] [--module PATH ...]

mutmut mutates a copy of the code and runs, for each mutant, only the tests that
executed the mutated function (it records that first). It recognises a package under
``src/`` but not under ``shared/`` (the layer's folder), so the run happens in a staged
copy: ``.mutation/src/bcpoller`` is ``shared/bcpoller``, the tests and the rest are copied
as they are, and pytest's path points at ``src``. Nothing in the work tree is changed.

Ends with one line: ``mutation score: 91% (killed 412 of 453), survivors listed in
mutation-report.txt``. Not part of ``make test``: it takes minutes, not seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / ".mutation"
REPORT = ROOT / "mutation-report.txt"

# The guarantee each module carries, and the tests that should catch a change to it.
TARGETS: dict[str, str] = {
    "security/ssrf.py": "outbound URLs only reach public addresses",
    "poll/cursor.py": "a re-read is recognised, the cursor never moves back",
    "poll/engine.py": "checkpoint after send, ties, CREATED vs UPDATED, lease release",
    "adapters/poll_table.py": "conditional checkpoints (DynamoDB enforces the version)",
    "delivery/signing.py": "both signatures",
    "delivery/deliverer.py": "one outcome per event, retries, idempotent delivery",
    "api/auth.py": "who may see what",
    "instances.py": "secrets masked, split from the public configuration",
}
# Only fast tests: every mutant runs the tests that cover it, and a moto-backed engine test
# takes a minute on this machine (the whole run must fit in 15 minutes on 2 cores). The
# conditional writes need DynamoDB's own checks, so their moto test is in.
TESTS = [
    "tests/unit",
    "tests/integration/test_poll_table_conditions.py",
]
# Everything the tests read beside the package (the OpenAPI document, README, template...).
COPY = ["tests", "local", "functions", "events", "docs", "template.yaml", "README.md", "Makefile"]
# mutmut writes only the mutated modules under mutants/src: the rest of the package comes along.
ALSO_COPY = ["src/bcpoller", *COPY]


def stage(modules: list[str]) -> None:
    if STAGE.exists():
        shutil.rmtree(STAGE)
    (STAGE / "src").mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "shared" / "bcpoller", STAGE / "src" / "bcpoller", ignore=ignore)
    for name in COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, STAGE / name, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, STAGE / name)
    project = (ROOT / "pyproject.toml").read_text()
    project = project.replace('pythonpath = ["shared", "."]', 'pythonpath = ["src", "."]')
    paths = ", ".join(f'"src/bcpoller/{m}"' for m in modules)
    tests = ", ".join(f'"{t}"' for t in TESTS)
    also = ", ".join(f'"{c}"' for c in ALSO_COPY)
    project += (
        "\n[tool.mutmut]\n"
        f"source_paths = [{paths}]\n"
        f"also_copy = [{also}]\n"
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
        # The layer-build checks read shared/, which the staged copy renames to src/.
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not e2e and not browser", '
        '"--ignore", "tests/unit/coldstart"]\n'
    )
    (STAGE / "pyproject.toml").write_text(project)


def mutmut(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # The staged copy's own layer path: local/__init__ would add the absent shared/.
    env["PYTHONPATH"] = os.pathsep.join([str(STAGE / "src"), str(STAGE)])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(Path(sys.executable).parent / "mutmut"), *args],
        cwd=STAGE,
        env=env,
        text=True,
        capture_output=not args or args[0] != "run",
        check=check,
    )


def summarise() -> tuple[int, int, list[str]]:
    """(killed, total, survivor lines) from ``mutmut results --all true``."""
    listing = mutmut("results", "--all", "true", check=False).stdout
    killed = total = 0
    survivors: list[str] = []
    for line in listing.splitlines():
        match = re.match(r"\s*(\S+): (\w[\w ]*)$", line)
        if not match:
            continue
        name, status = match.group(1), match.group(2).strip()
        if status in ("skipped", "not checked"):
            continue
        total += 1
        if status in ("killed", "timeout", "segfault"):
            killed += 1
        else:
            survivors.append(f"{name}: {status}")
    return killed, total, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--module", action="append", help="bcpoller-relative path (default: every target)")
    parser.add_argument("--tests", nargs="+", help=f"test paths (default: {' '.join(TESTS)})")
    args = parser.parse_args(argv)
    if args.tests:
        TESTS[:] = args.tests
    modules = args.module or list(TARGETS)
    unknown = [m for m in modules if not (ROOT / "shared" / "bcpoller" / m).exists()]
    if unknown:
        parser.error(f"--module {unknown[0]}: no such file under shared/bcpoller")
    print("mutation testing:", ", ".join(modules), flush=True)
    print("tests considered:", " ".join(TESTS), flush=True)
    started = time.monotonic()
    stage(modules)
    mutmut("run", "--max-children", str(args.max_children), check=False)
    killed, total, survivors = summarise()
    elapsed = time.monotonic() - started
    lines = [f"# mutation report ({elapsed / 60:.1f} min, {total} mutants)", *survivors]
    REPORT.write_text("\n".join(lines) + "\n")
    for module in modules:
        prefix = "bcpoller." + module.removesuffix(".py").replace("/", ".")
        left = sum(1 for s in survivors if s.startswith(prefix))
        print(f"  {module}: {left} survivor(s) — {TARGETS.get(module, '')}")
    score = 100.0 * killed / total if total else 0.0
    print(
        f"mutation score: {score:.0f}% (killed {killed} of {total}), "
        f"survivors listed in {REPORT.name} ({elapsed / 60:.1f} min)"
    )
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
