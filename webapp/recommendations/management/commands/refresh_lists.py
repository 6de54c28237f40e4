from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.recommendations import selectors, services, tasks


class Command(BaseCommand):
    help = (
        "Between trainings: recompute the lists of users whose inputs changed since their list "
        "(interactions, profile edits, a catalogue change, another model version); everyone "
        "else keeps theirs. Prints how many were refreshed and skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--background",
            action="store_true",
            help="select here, queue the parts on REFRESH_QUEUE for the workers and return",
        )
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args: Any, background: bool, as_json: bool, **opts: Any) -> None:
        if background:
            # the task's body runs here (the selection is one query); its parts go to workers
            report = tasks.lists_refresh_changed()
        else:
            mv = selectors.active_model_version()
            if mv is None:
                raise CommandError("no model serves yet; train one first (train_recommender)")
            report = services.lists_refresh_changed(model_version=mv)
        self.stdout.write(json.dumps(report, sort_keys=True) if as_json else _words(report))


def _words(report: dict[str, Any]) -> str:
    if "reason" in report:
        return str(report["reason"])
    if "parts" in report:
        done = f"{report['refreshed']:,} lists queued in {report['parts']} parts"
    else:
        done = f"{report['refreshed']:,} lists refreshed in {report['seconds']} s"
        done += f" ({report['users_per_s']} users/s)" if report["users_per_s"] else ""
    share = report["skipped_share"]
    return (
        f"{done}; {report['skipped']:,} users skipped (unchanged since their list"
        + (f", {share:.1%} of the version's users" if share is not None else "")
        + f") for {report['model_version']}"
    )
