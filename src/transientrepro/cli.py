"""Command-line helpers around the workflow (the workflow itself runs with `snakemake`).

  transientrepro check-config config/paper.yaml   validate a config against config/schema.yaml
  transientrepro paper-numbers                    print the published numbers we compare against
  transientrepro bench                            run the speed benchmarks (prints figures)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _check_config(path: str, schema: str) -> int:
    import jsonschema
    import yaml

    cfg = yaml.safe_load(Path(path).read_text()) or {}
    sch = yaml.safe_load(Path(schema).read_text())
    errors = sorted(jsonschema.Draft202012Validator(sch).iter_errors(cfg), key=lambda e: list(e.absolute_path))
    for e in errors:
        key = ".".join(map(str, e.absolute_path)) or "(top level)"
        print(f"{path}: config key {key}: {e.message}", file=sys.stderr)
    if not errors:
        print(f"{path}: valid")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="transientrepro", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check-config", help="validate a config file against the schema")
    c.add_argument("config")
    c.add_argument("--schema", default="config/schema.yaml")
    sub.add_parser("paper-numbers", help="print the published numbers (YAML)")
    sub.add_parser("bench", help="run the speed benchmarks")
    args = ap.parse_args(argv)
    if args.cmd == "check-config":
        return _check_config(args.config, args.schema)
    if args.cmd == "paper-numbers":
        from importlib import resources

        print(resources.files("transientrepro").joinpath("data/paper_numbers.yaml").read_text())
        return 0
    from .bench.__main__ import main as bench_main

    return bench_main([])


if __name__ == "__main__":
    sys.exit(main())
