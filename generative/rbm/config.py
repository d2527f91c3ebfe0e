"""Scenario model of the ``rbm`` task (the RBM recommender). No TensorFlow here: ``lab validate`` stays fast.

Whether the data exist is checked when the run starts, not here, so a scenario that points at MovieLens
or Netflix files validates on a machine without them.
"""

from __future__ import annotations

import inspect
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lab.data.ratings.synthetic_data import movielens_like
from lab.schema import Figure, Scenario, Section, Supports, epoch_training

_ML100K = inspect.signature(movielens_like).parameters  # the preset is the generator's defaults
SYNTHETIC_PRESETS = {
    # the original generator: Netflix-style shares, planted taste types, strong tastes (easy to learn)
    "netflix": {"users": 2000, "items": 1000, "mean_ratings": 60.0, "min_ratings": 20, "tastes": 8,
                "noise": 0.5, "taste_strength": 1.0, "popularity_exponent": 0.9},
    # MovieLens 100K's shape (lab.data.ratings.movielens_like, docs/rbm-real-data.md): 943 x 1,682, 100,000
    # ratings, its star shares, long-tailed popularity, user and item mean spreads, correlated genres
    "movielens100k": {key: _ML100K[name].default for key, name in (
        ("users", "n_users"), ("items", "n_items"), ("mean_ratings", "mean_ratings"),
        ("min_ratings", "min_ratings"),
        ("factors", "factors"), ("noise", "noise"), ("taste_strength", "taste_strength"))},
}


class SyntheticRatingsConfig(Section):
    preset: Literal["netflix", "movielens100k"] = Field(
        "netflix",
        description="netflix: the original generator (planted taste types, Netflix's star shares, strong "
        "tastes); movielens100k: MovieLens 100K's shape (943 x 1,682, 100,000 ratings, its star shares and "
        "spreads, a long tail; weak tastes under noise, like real ratings). Settings left out take the "
        "preset's values.",
    )
    users: int | None = Field(None, ge=2,
                              description="Number of synthetic users (netflix 2,000; movielens100k 943).")
    items: int | None = Field(None, ge=2,
                              description="Number of synthetic movies (netflix 1,000; movielens100k 1,682).")
    mean_ratings: float | None = Field(
        None, gt=0, description="Average number of ratings per user, log-normal spread (netflix 60; "
        "movielens100k 106.04: 100,000 in all).")
    min_ratings: int | None = Field(None, ge=1,
                                    description="Every user rates at least this many movies (20).")
    tastes: int | None = Field(None, ge=1, description="netflix: number of planted taste types (each loves 3 "
                               "genres, dislikes 2; 8).")
    factors: int | None = Field(None, ge=1, le=1000,
                                description="movielens100k: dimensions of the tastes (5).")
    noise: float | None = Field(None, ge=0, le=100, description="Standard deviation of the rating noise in "
                                "latent units (netflix 0.5; movielens100k 1.2; at most 100).")
    taste_strength: float | None = Field(
        None, ge=0, le=100, description="Weight of tastes in a rating (0: biases only; netflix 1.0; "
        "movielens100k 0.7; at most 100).")
    popularity_exponent: float | None = Field(
        None, ge=0, le=10, description="netflix: power-law exponent of movie popularity (0: uniform; 0.9).")

    @model_validator(mode="after")
    def _preset_values(self):
        preset = SYNTHETIC_PRESETS[self.preset]
        other = [k for k in ("tastes", "popularity_exponent", "factors")
                 if k not in preset and getattr(self, k) is not None]
        if other:
            raise ValueError(f"{', '.join(other)}: not a setting of preset {self.preset!r} (its settings: "
                             f"{', '.join(preset)})")
        for key, value in preset.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        return self


class RatingsDataConfig(Section):
    source: Literal["synthetic", "auto", "movielens-100k", "movielens-1m", "movielens-latest",
                    "netflix"] = Field(
        "synthetic",
        description="synthetic (generated, offline), auto (layout detected in data.path), movielens-100k, "
        "movielens-1m, movielens-latest or netflix.",
    )
    path: str | None = Field(
        None,
        description="Folder with the dataset's own files (u.data..., ratings.dat..., combined_data_*.txt...)."
    )
    download: bool = Field(
        False,
        description="Download MovieLens 100K/1M into data.cache when data.path is absent (needs internet)."
    )
    cache: str | None = Field(None, description="Download cache folder (default ~/.cache/lab/datasets).")
    max_files: int | None = Field(None, ge=1, description="Netflix: read only the first N rating files.")
    sample_users: int | None = Field(None, ge=2,
                                     description="Keep a random sample of this many users (None: all).")
    min_user_ratings: int = Field(1, ge=1,
                                  description="Drop users with fewer ratings than this after loading.")
    synthetic: SyntheticRatingsConfig = Field(default_factory=SyntheticRatingsConfig,
                                              description="The generated data set.")

    @model_validator(mode="after")
    def _path_needed(self):
        if self.source in ("auto", "movielens-latest", "netflix") and not self.path:
            raise ValueError(f"data.source {self.source!r} needs data.path (the folder holding the dataset's "
                             f"files)")
        if self.source in ("movielens-100k", "movielens-1m") and not self.path and not self.download:
            raise ValueError(f"data.source {self.source!r} needs data.path, or data.download: true on a "
                             f"machine with internet")
        return self


class SplitConfig(Section):
    method: Literal["kfold", "own", "holdout", "temporal"] = Field(
        "holdout",
        description="kfold (random folds), own (the dataset's u1..u5/ua/ub/probe), holdout (random per user) "
        "or temporal (each user's latest ratings).",
    )
    folds: int = Field(5, ge=2, description="Number of folds for kfold.")
    run_folds: int | None = Field(
        1, ge=1, description="Train and evaluate on the first N splits (None: all; 5-fold figures need all)."
    )
    own: list[str] | None = Field(None, description="Which of the dataset's own splits (None: all it has).")
    n: int | None = Field(None, ge=1,
                          description="holdout/temporal: ratings held out per user (overrides fraction).")
    fraction: float = Field(0.2, gt=0, lt=1,
                            description="holdout/temporal: share of each user's ratings held out.")


class RBMConfig(Section):
    orientation: Literal["user", "item"] = Field(
        "user",
        description="user: one RBM per user over movies (the paper; supports --rate); item: one per movie "
                    "over users.",
    )
    hidden: int = Field(100, ge=1, description="Number of binary hidden units (the paper uses 100).")
    rated_vector: Literal["none", "conditional", "joint"] = Field(
        "conditional",
        description="none: plain RBM; conditional: the paper's conditional RBM (which-rated vector drives "
        "the hidden units); joint: the which-rated vector is also modelled (predicts what people watch, for "
        "ranking).",
    )
    seen_includes_test: bool = Field(
        False, description="Put held-out (user, movie) pairs in the which-rated vector, as with Netflix's "
                           "qualifying set."
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum after the first momentum_epochs.")
    initial_momentum: float = Field(0.5, ge=0, lt=1, description="Momentum of the first momentum_epochs.")
    momentum_epochs: int = Field(5, ge=0, description="Epochs with initial_momentum.")
    weight_decay: float = Field(0.001, ge=0, le=1,
                                description="L2 weight decay on W and D (not on biases; 0 ... 1).")
    init_std: float = Field(0.01, gt=0, le=10,
                            description="Standard deviation of the initial weights (at most 10).")
    cd_schedule: list[tuple[int, int]] = Field(
        default_factory=lambda: [(0, 1), (15, 3), (25, 5), (35, 9)],
        description="CD steps as [from_epoch, k] pairs: k grows as learning goes on (the paper: 1, 3, 5, 9).",
    )
    seen_lr_scale: float = Field(
        0.02, gt=0, le=100, description="joint: learning-rate multiplier of the which-rated units (their "
        "gradient is dense over all items, so it needs a much smaller step than the ratings' sparse one)."
    )
    reconstruction: Literal["sample", "mean"] = Field(
        "sample",
        description="Negative phase: sampled visible states (unbiased) or their probabilities (mean field)."
    )
    rank_by: Literal["auto", "expected_rating", "seen_and_liked"] = Field(
        "auto",
        description="Top-N score: expected rating, or p(rated) x p(rating >= relevant) (joint only); auto "
        "picks the second for joint models.",
    )
    blend: Literal["none", "biases", "svd"] = Field(
        "none",
        description="Also report the RBM's prediction mixed with the biases' or the SVD's "
        "(baselines.svd_factors), weighted by least squares on rbm.blend_validation of the training ratings "
        "held out of the RBM's training (the RBM alone is reported too).",
    )
    blend_validation: float = Field(
        0.05, gt=0, lt=0.5, description="blend: share of the training ratings held out to weigh the blend "
        "(the RBM then trains on the rest, and predicts from all of them).")

    @field_validator("cd_schedule")
    @classmethod
    def _schedule(cls, value):
        if not value:
            raise ValueError("needs at least one [from_epoch, k] pair, e.g. [[0, 1]]")
        starts = [s for s, _ in value]
        if starts[0] != 0:
            raise ValueError(f"the first pair must start at epoch 0 (got {starts[0]})")
        if any(b <= a for a, b in zip(starts, starts[1:], strict=False)):
            raise ValueError(f"from_epoch values must increase (got {starts})")
        if any(k < 1 for _, k in value):
            raise ValueError("every k must be >= 1")
        return value

    @property
    def rank_kind(self) -> str:
        """The top-N score ``rank_by: auto`` stands for: p(rated) x p(liked) for the joint model, else the
        expected rating."""
        if self.rank_by == "auto":
            return "seen_and_liked" if self.rated_vector == "joint" else "expected_rating"
        return self.rank_by

    @model_validator(mode="after")
    def _consistent(self):
        if self.rank_by == "seen_and_liked" and self.rated_vector != "joint":
            raise ValueError("rank_by seen_and_liked needs rated_vector: joint (only the joint model "
                             "predicts what people will rate)")
        return self


RBMTrainingConfig = epoch_training("RBMTrainingConfig", monitor=None, epochs=40, batch_size=20,
                                   learning_rate=0.05, schedule="step", decay_after=1, decay_factor=0.97)
"""How the RBM trains: epochs, cases (users, or movies when turned round) per CD update, and the learning rate
over epochs, set once per epoch (by default step decay: the rate times 0.97 after every epoch). Momentum,
weight decay and the CD steps are the ``rbm`` section's. No validation figure: no early stopping."""


class BaselinesConfig(Section):
    user_reg: float = Field(15.0, ge=0,
                            description="Regularisation of user biases (Surprise's BaselineOnly: 15).")
    item_reg: float = Field(10.0, ge=0,
                            description="Regularisation of item biases (Surprise's BaselineOnly: 10).")
    iterations: int = Field(10, ge=1, description="ALS sweeps for the biases.")
    svd_factors: int = Field(20, ge=0, le=1000, description="Factors of the SVD baseline (biased matrix "
                             "factorisation by ALS); 0: no SVD baseline.")
    svd_reg: float = Field(0.15, ge=0, le=100, description="SVD: ridge penalty on the factors, times each "
                           "user's and item's number of ratings.")
    svd_iterations: int = Field(10, ge=1, le=1000, description="SVD: ALS sweeps.")


class RBMEvaluationConfig(Section):
    top_k: int = Field(10, ge=1, description="N of precision@N, recall@N and nDCG@N.")
    relevant: float = Field(4.0, description="A held-out rating at least this is relevant for ranking.")
    ranking_users: int | None = Field(
        20000, ge=1, description="Rank for at most this many test users (a seeded sample; None: all)."
    )
    every: int = Field(1, ge=1, description="Test RMSE for the learning curve every N epochs.")
    batch_size: int = Field(256, ge=1, description="Cases per prediction batch.")


class RBMScenario(Scenario):
    supports = Supports(strategies=("auto", "cpu", "gpu"), precisions=("float32",), xla="never",
                        why="its CD updates run on one device, in float32",
                        xla_why="every batch holds a different number of ratings, and XLA compiles a new "
                                "program for every shape")
    figures = {
        "rmse": Figure("lower", "test_rmse"),
        "mae": Figure("lower", "test_rmse"),
        "ndcg_at_10": Figure("higher"),
        "precision_at_10": Figure("higher"),
        "recall_at_10": Figure("higher"),
    }
    """A recommender experiment: data, split, the RBM, the baselines, the evaluation."""

    data: RatingsDataConfig = Field(default_factory=RatingsDataConfig,
                                    description="Where the ratings come from.")
    split: SplitConfig = Field(default_factory=SplitConfig, description="How ratings are held out.")
    rbm: RBMConfig = Field(default_factory=RBMConfig, description="The restricted Boltzmann machine.")
    training: RBMTrainingConfig = Field(default_factory=RBMTrainingConfig, description="Epochs, batch size "
                                        "and the learning rate over epochs of the RBM's CD updates.")
    baselines: BaselinesConfig = Field(default_factory=BaselinesConfig,
                                       description="The baselines fitted alongside.")
    evaluation: RBMEvaluationConfig = Field(default_factory=RBMEvaluationConfig,
                                            description="Accuracy and ranking.")

    @model_validator(mode="after")
    def _blend_partner(self):
        if self.rbm.blend == "svd" and not self.baselines.svd_factors:
            raise ValueError("rbm.blend: svd needs the SVD baseline (baselines.svd_factors > 0)")
        return self
