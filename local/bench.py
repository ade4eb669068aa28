"""`make bench`: run every benchmark script that exists and print its figures.

    python -m local.bench [connector|poll|delivery|api|stack|cost|coldstart|requests|soak|faults|
                           sweep|wakeup ...]
                          [-- ARGS for each script]

Each benchmark is a module ``local.bench_<name>`` with a ``main(argv) -> int``.
Figures are printed, never asserted.
"""

from __future__ import annotations

import importlib
import time
import traceback

BENCHMARKS = (
    "connector",
    "poll",
    "delivery",
    "api",
    "stack",
    "cost",
    "coldstart",
    "requests",
    "soak",
    "faults",
    "sweep",
    "wakeup",
)


def run(names: list[str], passthrough: list[str]) -> int:
    status = 0
    for name in names:
        module_name = f"local.bench_{name}"
        module = importlib.import_module(module_name)
        print(f"== {name} ({module_name})", flush=True)
        started = time.monotonic()
        try:
            code = module.main(passthrough)
        except Exception:
            traceback.print_exc()
            code = 1
        print(f"== {name}: exit {code or 0} in {time.monotonic() - started:.1f}s", flush=True)
        status = status or int(code or 0)
    return status


def main(argv: list[str] | None = None) -> int:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    split = args.index("--") if "--" in args else len(args)
    names, passthrough = args[:split], args[split + 1 :]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or any(n in ("-h", "--help") for n in names):
        print(__doc__)
        if unknown:
            print(f"unknown benchmark {unknown[0]!r}: choose from {', '.join(BENCHMARKS)}")
        return 2 if unknown else 0
    return run(names or list(BENCHMARKS), passthrough)


if __name__ == "__main__":
    raise SystemExit(main())
