"""`make mutation`: mutation testing of the modules that carry the README's guarantees.

    python -m local.mutation [--max-children N] [--module PATH ...]

mutmut mutates a copy of the code and runs, for each mutant, only the tests that
executed the mutated function (it records that first). It recognises a package under
``src/`` but not under ``shared/`` (the layer's folder), so the run happens in a staged
copy: ``.mutation/src/bcpoller`` is ``shared/bcpoller``, the tests and the rest are copied
as they are, and pytest's path points at ``src``. Nothing in the work tree is changed.

Ends with one line: ``mutation score: 91% (killed 412 of 453), survivors listed in
mutation-report.txt``, after a score per module. Not part of ``make test``: it takes minutes.

Where the time goes, and what keeps the run within 15 minutes on 2 cores:

- mutmut forks each mutant from the process that ran the stats (imports, conftest and test
  modules are loaded once); a mutant then costs pytest's start (~0.2 s, once pytest's
  unraisableexception plugin, whose five gc.collect() calls per session took 0.9 s, is off)
  plus its covering tests, run with ``-x``. ``local/mutation_order.py`` runs them fastest first, so a killed
  mutant usually stops in milliseconds. A survivor runs every covering test: one 10 s test
  on a path a hundred mutants share costs 1,000 s. Those tests are deselected (SLOW, with
  the reason each is not needed here), and the moto-*server* test of the poll table is
  replaced by ``tests/unit/adapters`` (moto in-process, which also evaluates conditions):
  a server started in every forked mutant cost seconds each.
- Lines matching DO_NOT_MUTATE (log statements) are not mutated: a log line's wording is not
  a guarantee, and no mutation of one can put a secret into it (mutmut replaces strings by
  ``XX..XX`` or ``None``). Metric names are mutated: the dashboard reads them.
- Not used: ``mutate_only_covered_lines`` (it would hide untested code), and
  ``type_check_command`` (mypy over the mutated tree; its rejections would be a separate count).

Survivors judged equivalent (no test can tell them apart: same behaviour) are listed with a
one-line reason in ``local/mutation-equivalent.txt`` (``mutant-name  reason``). The summary
counts them apart ("equivalent, with reasons: N") and the score leaves them out of the
total; a listed mutant that is killed, or no longer exists, is reported as stale.

    python -m local.mutation --report   # re-read the last run (after editing the list)
    python -m local.mutation --mutant NAME ...   # only these mutants (exit 0 when all are killed)
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
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
# Only fast tests: every mutant runs the tests that cover it (a moto-server or benchmark-like
# test would run for every survivor of the functions it touches). The poll table's
# conditional writes are checked by tests/unit/adapters against moto in-process, which
# evaluates DynamoDB's conditions; the moto-server test of them stays in `make test`.
TESTS = ["tests/unit"]
# Tests left out of the mutation run, each with why: they take 10-25 s on this machine and
# every surviving mutant of the cursor, engine or sweep code would run them.
SLOW: dict[str, str] = {
    "tests/unit/poll/test_sweep.py::test_fifty_thousand_products_take_one_request_per_page_of_ids": (
        "a scale check (request count for 50,000 ids); the sweep's paging is covered by the small sweep tests"
    ),
    "tests/unit/poll/test_property.py::test_no_change_lost_and_duplicates_are_same_event_id": (
        "500 derandomized examples (13 s); the crash points it explores have their own engine tests"
    ),
}
# Line patterns mutmut leaves alone (a statement starting on a matching line, all its lines).
DO_NOT_MUTATE = [r"^\s*logger\.(debug|info|warning|error|exception)\("]
EQUIVALENT = ROOT / "local" / "mutation-equivalent.txt"
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
    deselect = "".join(f', "--deselect", "{t}"' for t in SLOW)
    patterns = ", ".join(f"'{p}'" for p in DO_NOT_MUTATE)
    project += (
        "\n[tool.mutmut]\n"
        f"source_paths = [{paths}]\n"
        f"also_copy = [{also}]\n"
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
        f"do_not_mutate_patterns = [{patterns}]\n"
        # The layer-build checks read shared/, which the staged copy renames to src/.
        # unraisableexception runs gc.collect() five times as each pytest session ends: with
        # boto3, moto and hypothesis loaded that was 0.9 s of a mutant's 1.1 s.
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:unraisableexception", '
        '"-p", "local.mutation_order", '
        '"-m", "not e2e and not browser", "--ignore", "tests/unit/coldstart"'
        f"{deselect}]\n"
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


def results() -> dict[str, str]:
    """mutant name -> status, from ``mutmut results --all true``."""
    listing = mutmut("results", "--all", "true", check=False).stdout
    statuses: dict[str, str] = {}
    for line in listing.splitlines():
        match = re.match(r"\s*(\S+): (\w[\w ]*)$", line)
        if match:
            statuses[match.group(1)] = match.group(2).strip()
    return statuses


def read_equivalent(path: Path = EQUIVALENT) -> dict[str, str]:
    """``mutant-name  reason`` lines (``#`` comments); a name without a reason is an error."""
    listed: dict[str, str] = {}
    if not path.exists():
        return listed
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path.name}:{number}: {name} has no reason; write why it is equivalent")
        listed[name] = reason.strip()
    return listed


KILLED = ("killed", "timeout", "segfault")
# A listed mutant counts as equivalent only while no test tells it apart: it survived, or
# no test reaches it (a Protocol's stub body, which never runs).
JUDGED_EQUIVALENT = ("survived", "no tests")
UNJUDGED = ("skipped", "not checked")


@dataclass
class Tally:
    killed: int = 0
    equivalent: int = 0
    total: int = 0  # judged, equivalent ones included
    survivors: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        counted = self.total - self.equivalent
        return 100.0 * self.killed / counted if counted else 100.0


def _percent(score: float) -> str:
    """Rounded down: 16 survivors in 3,955 read 99%, never 100%."""
    return f"{math.floor(score)}%"


def tally(
    statuses: dict[str, str], equivalent: dict[str, str], modules: list[str]
) -> tuple[dict[str, Tally], list[str]]:
    """Per module (and "overall"): killed, equivalent, survivors; and the stale list entries."""
    prefixes = {m: "bcpoller." + m.removesuffix(".py").replace("/", ".") + "." for m in modules}
    tallies = {m: Tally() for m in [*modules, "overall"]}
    stale: list[str] = []
    for name, status in sorted(statuses.items()):
        if status in UNJUDGED:
            continue
        module = next((m for m, p in prefixes.items() if name.startswith(p)), None)
        for key in (module, "overall"):
            if key is None:
                continue
            t = tallies[key]
            t.total += 1
            if status in KILLED:
                t.killed += 1
            elif status in JUDGED_EQUIVALENT and name in equivalent:
                t.equivalent += 1
            else:
                t.survivors.append(f"{name}: {status}")
    for name in sorted(equivalent):
        if name not in statuses:
            # Only for a module this run mutated (a --module run leaves the others out).
            prefix = next((p for p in prefixes.values() if name.startswith(p)), None)
            if prefix is not None and any(n.startswith(prefix) for n in statuses):
                stale.append(f"{name}: no such mutant (the code changed?)")
        elif statuses[name] not in (*JUDGED_EQUIVALENT, *UNJUDGED):
            stale.append(f"{name}: {statuses[name]}, listed as equivalent")
    return tallies, stale


def report(modules: list[str], elapsed: float | None) -> int:
    statuses = results()
    equivalent = read_equivalent()
    tallies, stale = tally(statuses, equivalent, modules)
    overall = tallies["overall"]
    took = f"{elapsed / 60:.1f} min, " if elapsed is not None else ""
    lines = [f"# mutation report ({took}{overall.total} mutants judged)", "", "## survivors"]
    lines += overall.survivors or ["(none)"]
    lines += ["", f"## equivalent, with reasons ({EQUIVALENT.relative_to(ROOT)})"]
    judged = [f"{n}  {r}" for n, r in sorted(equivalent.items()) if statuses.get(n) in JUDGED_EQUIVALENT]
    lines += judged or ["(none)"]
    if stale:
        lines += ["", "## stale entries of the equivalent list", *stale]
    REPORT.write_text("\n".join(lines) + "\n")
    for module in modules:
        t = tallies[module]
        print(
            f"  {module}: {_percent(t.score)} (killed {t.killed} of {t.total - t.equivalent}; "
            f"{len(t.survivors)} survivor(s), {t.equivalent} equivalent) — {TARGETS.get(module, '')}"
        )
    print(
        f"equivalent, with reasons: {overall.equivalent} (left out of the score; "
        f"listed in {EQUIVALENT.relative_to(ROOT)}), stale entries: {len(stale)}"
    )
    print(f"deselected as too slow per mutant: {len(SLOW)} test(s), see SLOW in local/mutation.py")
    if elapsed is not None:
        print(f"wall time: {elapsed / 60:.1f} min")
    counted = overall.total - overall.equivalent
    print(
        f"mutation score: {_percent(overall.score)} (killed {overall.killed} of {counted}), "
        f"survivors listed in {REPORT.name}"
    )
    return 0 if overall.total else 1


def module_of(mutant: str) -> str | None:
    """``bcpoller.poll.engine.x_f__mutmut_3`` -> ``poll/engine.py`` (None if not a target)."""
    dotted = mutant.split(".x", 1)[0].removeprefix("bcpoller.")
    path = dotted.replace(".", "/") + ".py"
    return path if path in TARGETS else None


def run_named(names: list[str], parser: argparse.ArgumentParser) -> int:
    """A test written against a survivor is checked in a minute, not a whole run."""
    modules = sorted({m for m in map(module_of, names) if m})
    unknown = [n for n in names if module_of(n) is None]
    if unknown:
        parser.error(f"--mutant {unknown[0]}: not a mutant of {', '.join(TARGETS)}")
    stage(modules)
    mutmut("run", *names, check=False)
    statuses = results()
    for name in names:
        print(f"{name}: {statuses.get(name, 'not generated (renumbered? run the module again)')}")
    return 0 if all(statuses.get(n) == "killed" for n in names) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--module", action="append", help="bcpoller-relative path (default: every target)")
    parser.add_argument("--tests", nargs="+", help=f"test paths (default: {' '.join(TESTS)})")
    parser.add_argument("--report", action="store_true", help="summarise the last run again (no mutation)")
    parser.add_argument(
        "--mutant", nargs="+", metavar="NAME", help="run only these mutants (names as the report lists them)"
    )
    args = parser.parse_args(argv)
    if args.tests:
        TESTS[:] = args.tests
    if args.mutant:
        return run_named(args.mutant, parser)
    modules = args.module or list(TARGETS)
    unknown = [m for m in modules if not (ROOT / "shared" / "bcpoller" / m).exists()]
    if unknown:
        parser.error(f"--module {unknown[0]}: no such file under shared/bcpoller")
    if args.report:
        if not (STAGE / "mutants").exists():
            parser.error("--report: no previous run in .mutation/")
        return report(modules, None)
    print("mutation testing:", ", ".join(modules), flush=True)
    print("tests considered:", " ".join(TESTS), f"(minus {len(SLOW)} slow)", flush=True)
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    started = time.monotonic()
    stage(modules)
    mutmut("run", "--max-children", str(args.max_children), check=False)
    elapsed = time.monotonic() - started
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    return report(modules, elapsed)


if __name__ == "__main__":
    sys.exit(main())
