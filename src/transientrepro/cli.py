"""Command-line helpers around the workflow (the workflow itself runs with `snakemake`).

  transientrepro check-config config/paper.yaml   validate a config against config/schema.yaml
  transientrepro paper-numbers                    print the published numbers we compare against
  transientrepro bench                            run the speed benchmarks (prints figures)
  transientrepro predict --model results/plasticc/t2/model.keras \
      --lightcurves lc.csv --metadata meta.csv      classify PLAsTiCC-format light curves with t2
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


def _predict(args) -> int:
    import yaml

    from .t2.predict import classify, format_timings

    cfg = yaml.safe_load(Path(args.config).read_text()) or {}
    table, timings = classify(args.lightcurves, args.metadata, args.model, cfg.get("gp"), args.train_info,
                              batch_size=args.batch_size, threads=args.threads,
                              jit_compile=bool((cfg.get("t2") or {}).get("jit_compile", True)))
    if args.out:
        from .io import write_csv

        write_csv(table, args.out)
        print(f"wrote {args.out} ({len(table)} objects)")
    else:
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(format_timings(timings))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="transientrepro", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check-config", help="validate a config file against the schema")
    c.add_argument("config")
    c.add_argument("--schema", default="config/schema.yaml")
    sub.add_parser("paper-numbers", help="print the published numbers (YAML)")
    sub.add_parser("bench", help="run the speed benchmarks")
    p = sub.add_parser("predict", help="classify PLAsTiCC-format light curves with a trained t2 model",
                       description="GP-interpolate the light curves (the config's gp: settings, which must be "
                                   "the model's), scale them with the model's train_info.json and classify them; "
                                   "prints the GP and inference throughput.")
    p.add_argument("--model", required=True, help="model.keras of a t2 variant (results/plasticc/<variant>/)")
    p.add_argument("--lightcurves", required=True, help="light curves CSV (object_id, mjd, passband, flux, flux_err, detected[_bool])")
    p.add_argument("--metadata", required=True, help="metadata CSV (object_id, hostgal_photoz, hostgal_photoz_err, ...; labels optional)")
    p.add_argument("--config", default="config/config.yaml", help="config whose gp: section the model was trained with")
    p.add_argument("--train-info", help="the model's train_info.json (default: beside the model)")
    p.add_argument("--out", help="write the table here (CSV; default: print it)")
    p.add_argument("--batch-size", type=int, default=1024, help="objects per inference call (default 1024)")
    p.add_argument("--threads", type=int, default=None, help="TensorFlow threads (default: all cores)")
    args = ap.parse_args(argv)
    if args.cmd == "predict":
        return _predict(args)
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
