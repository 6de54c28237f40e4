"""Model names -> how to build, tune and compare them (what ``recommender.evaluate`` runs).

Each model module exposes one zero-argument function, ``model_spec() -> ModelSpec``. The table
below names that function by string and imports it only when the model is asked for, so the
classic models run even while a heavier model's module (or its dependencies) is missing.

A :class:`ModelSpec` says how to make the model and how to choose its hyperparameters:

- ``build(hparams, seed) -> Ranker``: an unfitted ranker from a dict of hyperparameters (keys
  of the model's config dataclass; missing keys take the config defaults) and the run's seed.
- either ``grid``: {name: [values]}; the harness fits every combination on ``split.train`` and
  keeps the one with the best validation NDCG@10 (first in grid order on ties);
- or ``tune(split, catalogue, seed) -> TuneResult``: for models that search on their own, e.g.
  early stopping on validation. It may use only ``split.train`` for fitting and
  ``split.valid_items`` for scoring (see :func:`recommender.harness.validate`), never the
  test items. The returned hparams must make ``build`` reproduce the chosen model (e.g. the
  epoch count early stopping picked), because the harness refits with them on
  ``split.train_valid`` for the test stage.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from recommender.base import Ranker
    from recommender.data import Catalogue
    from recommender.split import Split


@dataclass(frozen=True)
class TuneResult:
    """What a search chose, its validation NDCG@10, and every trial for the report."""

    hparams: dict[str, Any]
    valid_ndcg: float
    trials: list[dict[str, Any]] = field(default_factory=list)  # each: hparams + "valid_ndcg"


Build = Callable[[Mapping[str, Any], int], "Ranker"]
Tune = Callable[["Split", "Catalogue", int], TuneResult]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Build
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    tune: Tune | None = None  # when set, used instead of ``grid``
    baseline: bool = False  # a classic model: candidates for the reference in the CI column
    summary: str = ""


Config = TypeVar("Config")


def config_with(defaults: Config, hparams: Mapping[str, Any], seed: int) -> Config:
    """``defaults`` (a config dataclass with a ``seed``) with ``hparams`` over it; hparams may
    override the seed. Unknown keys are an error, not silently dropped."""
    unknown = set(hparams) - {f.name for f in fields(defaults)}  # type: ignore[arg-type]
    if unknown:
        raise ValueError(f"unknown {type(defaults).__name__} hparams: {sorted(unknown)}")
    return replace(defaults, **{"seed": seed, **hparams})  # type: ignore[type-var]


def changed_hparams(config: Any) -> dict[str, Any]:
    """``epochs`` plus the fields that differ from the config class's own defaults (what
    reports record), compared with a fresh ``type(config)()`` rather than a module's
    DEFAULTS, so a run that changed the defaults still shows what it changed."""
    base = type(config)()
    out = {
        k: v
        for k, v in asdict(config).items()
        if k not in ("seed", "epochs") and v != getattr(base, k)
    }
    return {"epochs": config.epochs, **out}


class EarlyStopped(Protocol):
    """A model class that tunes itself by early stopping (SASRec, the semantic-ID model)."""

    def __call__(self, config: Any) -> Ranker: ...

    def tune_model(self, split: Split, catalogue: Catalogue, config: Any) -> Any: ...


def early_stopping_spec(
    name: str,
    model_class: EarlyStopped,
    config_from: Callable[[Mapping[str, Any], int], Any],
    *,
    summary: str,
    baseline: bool = False,
) -> ModelSpec:
    """The spec of a model that early-stops on validation: ``tune`` fits on train with the
    run's seed and returns the chosen epochs (and whatever else differs from the config's
    class defaults); ``build`` makes that recipe. ``config_from(hparams, seed)`` is the model
    module's own (it reads the module's DEFAULTS when called, which tests and ``evaluate
    --set`` replace after the spec is made)."""

    def build(hparams: Mapping[str, Any], seed: int) -> Ranker:
        return model_class(config_from(hparams, seed))

    def tune(split: Split, catalogue: Catalogue, seed: int) -> TuneResult:
        from recommender.harness import validate  # the harness's exact tie-breaking

        model = model_class.tune_model(split, catalogue, config_from({}, seed))
        return TuneResult(
            changed_hparams(model.config), validate(model, split), list(model.history_)
        )

    return ModelSpec(name, build, tune=tune, baseline=baseline, summary=summary)


class ModelUnavailable(LookupError):
    """The name is unknown, or its module (or a dependency of it) cannot be imported."""


# name -> "module:function"; the function takes no arguments and returns a ModelSpec
_SPECS: dict[str, str] = {
    "pop": "recommender.models.popularity:model_spec",
    "itemknn": "recommender.models.itemknn:model_spec",
    "als": "recommender.models.mf:als_spec",
    "bpr": "recommender.models.mf:bpr_spec",
    "ease": "recommender.models.ease:model_spec",
    "sasrec": "recommender.models.sasrec:model_spec",
    "dense": "recommender.models.dense:model_spec",
    "hybrid": "recommender.models.hybrid:model_spec",
    "semantic": "recommender.models.semantic:model_spec",
}


def module_of(name: str) -> str:
    """The module that implements ``name`` (where its config defaults live)."""
    if name not in _SPECS:
        raise ModelUnavailable(f"unknown model {name!r}; choose from {', '.join(_SPECS)}")
    return _SPECS[name].split(":")[0]


def names() -> list[str]:
    """Every registered name, available or not."""
    return list(_SPECS)


def get(name: str) -> ModelSpec:
    """The spec for ``name``; :class:`ModelUnavailable` with the reason when it cannot load."""
    if name not in _SPECS:
        raise ModelUnavailable(f"unknown model {name!r}; known: {', '.join(_SPECS)}")
    module_name, function = _SPECS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelUnavailable(
            f"model {name!r} is registered but {module_name} cannot be imported: {exc}"
        ) from exc
    make = getattr(module, function, None)
    if make is None:
        raise ModelUnavailable(f"{module_name} does not define {function}() -> ModelSpec")
    spec = make()
    if not isinstance(spec, ModelSpec) or spec.name != name:
        raise ModelUnavailable(f"{module_name}.{function}() must return ModelSpec(name={name!r})")
    return spec


def available() -> list[str]:
    """Names whose modules import cleanly right now."""
    out = []
    for name in _SPECS:
        try:
            get(name)
        except ModelUnavailable:
            continue
        out.append(name)
    return out
