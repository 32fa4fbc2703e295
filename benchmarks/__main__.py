"""Run every benchmark, or the ones named: `python -m benchmarks [gathering ...]`."""

from __future__ import annotations

import importlib
import os
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
        # Each benchmark sets its own environment (the portal's server its allowed hosts, the
        # database URLs): the next one starts from the environment `make bench` was given.
        given = dict(os.environ)
        try:
            failed += module.main() or 0
        finally:
            os.environ.clear()
            os.environ.update(given)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
