"""Command line for the evaluation protocol in :mod:`recommender.harness`.

    python -m recommender.evaluate --dataset ml-100k --models pop,itemknn,als,bpr,ease
    python -m recommender.evaluate --dataset ml-1m --users 1000 --out reports/

Writes reports/<dataset>/{results.json, per_user.npz, results.png, split.json} and prints the
table. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
from pathlib import Path
from typing import Any

from recommender import registry
from recommender.data import load_movielens
from recommender.harness import PROTOCOLS, evaluate_models, format_table, write_report
from recommender.split import leave_last_out

DATASETS = {"ml-100k": "100k", "ml-1m": "1m"}
DEFAULT_MODELS = "pop,itemknn,als,bpr,ease"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="ml-100k")
    parser.add_argument(
        "--models",
        default=DEFAULT_MODELS,
        help=f"comma-separated, from: {', '.join(registry.names())}",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds model initialisation, user sampling and the bootstrap",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reports"), help="reports go to OUT/<dataset>/"
    )
    parser.add_argument(
        "--users",
        type=int,
        default=None,
        help="evaluate a random sample of N users (quick runs); default all",
    )
    parser.add_argument(
        "--reference",
        default=None,
        help="model the NDCG@10 CIs compare against; default: the baseline "
        "with the best validation NDCG@10",
    )
    parser.add_argument(
        "--protocol",
        choices=list(PROTOCOLS),
        default="refit",
        help="refit: the chosen model is refit on train+valid before the test (ours); "
        "train-only: the train fit is tested (RecBole's general models); fold-in: the train "
        "fit reads the valid item as input (SASRec's paper, LRURec, RecBole's sequential "
        "models); compare peers under the same one",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="MODEL.FIELD=VALUE",
        help="change a model's default config for this run, e.g. --set sasrec.max_len=50 "
        "(models with a module-level DEFAULTS config; repeatable; shown in the report)",
    )
    return parser.parse_args(argv)


def apply_overrides(overrides: list[str]) -> dict[str, dict[str, Any]]:
    """Apply ``MODEL.FIELD=VALUE`` to that model module's ``DEFAULTS`` config dataclass.

    Values are parsed as the field's current type, so a typo fails here, before any work.
    """
    applied: dict[str, dict[str, Any]] = {}
    for text in overrides:
        target, sep, raw = text.partition("=")
        name, dot, field_name = target.partition(".")
        if not (sep and dot):
            raise ValueError(f"--set {text!r}: expected MODEL.FIELD=VALUE")
        module = importlib.import_module(registry.module_of(name))
        defaults = getattr(module, "DEFAULTS", None)
        if defaults is None or not dataclasses.is_dataclass(defaults):
            raise ValueError(f"--set {text!r}: model {name!r} has no DEFAULTS config to change")
        current = getattr(defaults, field_name, dataclasses.MISSING)
        if current is dataclasses.MISSING:
            raise ValueError(f"--set {text!r}: {name} has no setting {field_name!r}")
        kind = type(current)
        value: Any = raw.lower() in ("1", "true", "yes") if kind is bool else kind(raw)
        setattr(module, "DEFAULTS", dataclasses.replace(defaults, **{field_name: value}))  # type: ignore[type-var]  # noqa: B010
        applied.setdefault(name, {})[field_name] = value
    return applied


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:  # fail before any work if a requested model cannot load
        specs = [registry.get(n) for n in names]
    except registry.ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        overrides = apply_overrides(args.overrides)
    except (ValueError, registry.ModelUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if overrides:
        print(f"config overrides: {overrides}", file=sys.stderr)
    if args.reference and args.reference not in names:
        print(f"error: --reference {args.reference} is not among --models", file=sys.stderr)
        return 2

    start = time.perf_counter()
    dataset = load_movielens(DATASETS[args.dataset])  # type: ignore[arg-type]
    split = leave_last_out(dataset.interactions)
    split_hash = split.id_hash(dataset.users, dataset.catalogue.ids)
    print(
        f"{args.dataset}: {len(split.users)} evaluated users, {len(dataset.catalogue)} items, "
        f"split {split_hash}, protocol {args.protocol}, seed {args.seed} "
        f"(loaded in {time.perf_counter() - start:.1f}s)",
        file=sys.stderr,
    )
    report = evaluate_models(
        args.dataset,
        split,
        dataset.catalogue,
        specs,
        seed=args.seed,
        users_sample=args.users,
        reference=args.reference,
        progress=not args.no_progress,
        protocol=args.protocol,
        split_hash=split_hash,
    )
    paths = write_report(report, args.out / args.dataset, split)
    sample = f" (sample of {args.users})" if args.users else ""
    print(
        f"\n{args.dataset} test, {report.n_users} users{sample}, split {report.split_hash}, "
        f"protocol {report.protocol} ({PROTOCOLS[report.protocol]}), seed {report.seed}; "
        f"CI: paired bootstrap, 1000 resamples, vs {report.reference}"
    )
    print(format_table(report))
    print(f"\ntotal {report.seconds:.0f}s; wrote {', '.join(str(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
