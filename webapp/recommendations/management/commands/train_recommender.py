from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from recommender import registry
from webapp.jobs.services import job_enqueue
from webapp.recommendations import services, tasks
from webapp.recommendations.models import ModelVersion

# What a new site serves while its first real training runs: EASE with default settings is
# one matrix inverse (about a second on MovieLens 100K), against minutes of tuning the hybrid.
QUICK_MODEL = "ease"


class Command(BaseCommand):
    help = "Train a recommender on every interaction (tuned on validation) and refresh all lists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model", default="hybrid", help=f"one of {', '.join(registry.names())}"
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--background", action="store_true", help="queue it for the worker and return"
        )
        parser.add_argument(
            "--if-missing", action="store_true", help="do nothing when a model is already trained"
        )

    def handle(
        self, *args: Any, model: str, seed: int, background: bool, if_missing: bool, **opts: Any
    ) -> None:
        if model not in registry.names():
            raise CommandError(
                f"unknown model {model!r}; choose one of {', '.join(registry.names())}"
            )
        if if_missing and ModelVersion.objects.exists():
            self.stdout.write("A trained model exists; not training another.")
            return
        if background:
            first = not ModelVersion.objects.exists() and model != QUICK_MODEL
            if first:  # a new site: EASE serves in seconds, then the model asked for
                job = job_enqueue(
                    task=tasks.model_train_first,
                    arguments={"quick": QUICK_MODEL, "name": model, "seed": seed},
                )
            else:
                job = job_enqueue(task=tasks.model_train, arguments={"name": model, "seed": seed})
            self.stdout.write(
                f"Training {model} in the background worker (job #{job.pk})"
                + (f", {QUICK_MODEL} serving first" if first else "")
                + "; progress under /admin/jobs/jobrun/."
            )
            return
        bar = tqdm(total=100, desc=f"training {model}", disable=not sys.stderr.isatty())

        def report(fraction: float, message: str) -> None:
            bar.set_postfix_str(message[:60])
            bar.update(int(fraction * 100) - bar.n)

        try:
            mv = services.model_train(name=model, seed=seed, progress=report)
            written = services.recommendations_refresh(model_version=mv, progress=report)
        except (ValueError, registry.ModelUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"{mv.version}: validation NDCG@10 {mv.valid_ndcg}, {written} lists written"
            )
        )
