"""Run every benchmark, or the ones named: `python -m benchmarks [gathering ...]`."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    "gathering",
    "fulfilment",
    "bundles",
    "access",
    "portal",
    "devserver",
    "dashboard",
    "api_fuzz",
]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    failed = 0
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        failed += module.main() or 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
