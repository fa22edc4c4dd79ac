"""The two files a researcher writes: ``sites.toml`` (where) and ``experiment.toml`` (what).

Credentials never live in the files: each site names the environment variables that hold the
researcher's email and password there.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fedcommon import sites_file
from fedcommon.privacy import PrivacySettings
from fedcommon.schema import DEFAULT_IMAGE_SIZE, AssetName
from researcher.errors import ConfigError
from researcher.strategy import ServerSettings

SiteConfig = sites_file.SiteEntry
SitesConfig = sites_file.SitesFile
SERVER_LR = {"fedavgm": 1.0, "fedadam": 0.01}  # chosen by benchmarks/fl_sweep.py
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelConfig(_Frozen):
    """A small CNN for 1-channel images: ``depth`` conv blocks of ``width * 2**i`` channels."""

    width: int = Field(default=16, ge=1, le=256)
    depth: int = Field(default=3, ge=1, le=6)
    num_classes: int = Field(default=2, ge=2)
    image_size: int = Field(default=DEFAULT_IMAGE_SIZE, ge=8)
    # Global pooling before the classifier. "max" finds a small focal opacity that averaging
    # over the whole radiograph washes out (measured on datasite synth: max 0.82-0.90
    # accuracy at 64 px where avg stayed near chance).
    pool: Literal["max", "avg"] = "max"
    # Normalisation after each conv. "batch" learns the synthetic radiographs where "group"
    # stayed at chance (1152 images, 64 px, 12 epochs: 0.88 vs 0.58 accuracy); its running
    # statistics travel and are averaged with the weights. "group" has no such buffers.
    norm: Literal["batch", "group"] = "batch"
    # The head pools each channel to a pool_grid x pool_grid map before the linear layer;
    # 1 (one value per channel) keeps no spatial layout. benchmarks/fl_sweep.py (non-IID,
    # lr 2e-3): 2 gave FedAvg 0.642 accuracy / 0.738 AUC where 1 gave 0.575 / 0.717.
    pool_grid: int = Field(default=2, ge=1, le=8)


DEFAULT_INPUTS = (AssetName.IMAGES, AssetName.LABELS, AssetName.VAL_IMAGES, AssetName.VAL_LABELS)
# Settings every task receives in ``config`` (the built-in CNN uses them all); [task_config]
# adds the task's own and may not redefine these.
PLATFORM_SETTINGS = (
    "optimizer",
    "lr",
    "lr_schedule",
    "batch_size",
    "local_epochs",
    "rounds",
    "seed",
    "algorithm",
    "mu",
    "auc_bins",
)


class ExperimentConfig(_Frozen):
    name: str
    dataset: str
    # "path/to/file.py:function", relative to the experiment file; "" = the built-in CNN
    # (examples/tasks/cnn.py:cnn_task). See researcher.task for the contract.
    task: str = ""
    task_config: dict[str, Any] = Field(default_factory=dict)
    inputs: tuple[AssetName, ...] = DEFAULT_INPUTS
    model: ModelConfig = ModelConfig()
    optimizer: Literal["sgd", "adam"] = "adam"
    # benchmarks/fl_sweep.py (non-IID, 10 epochs): 5e-4 and 1e-3 stayed near chance where
    # 2e-3 learned (FedAvg 0.642 accuracy, 0.928 of centralised).
    lr: float = Field(default=2e-3, gt=0)
    # "cosine": each epoch's local lr follows a cosine from lr to 0 over the run (rounds x
    # local_epochs epochs; the built-in CNN applies it), "constant": lr throughout. With a
    # constant lr the last round's model was one noisy Adam step (accuracy jumping 0.58 <->
    # 0.83 between rounds); cosine moved fl_quality's FedAvg / centralised at 20 epochs from
    # 0.746 to 0.876 (IID) and made the converged curves monotone (benchmarks/fl_quality.py).
    lr_schedule: Literal["constant", "cosine"] = "cosine"
    batch_size: int = Field(default=32, ge=1)
    local_epochs: int = Field(default=1, ge=1)
    rounds: int = Field(default=5, ge=1)
    seed: int = 0
    algorithm: Literal["fedavg", "fedprox", "fedavgm", "fedadam"] = "fedavg"
    mu: float = Field(default=0.0, ge=0)
    # Server optimiser (FedAvgM / FedAdam): step size on the averaged update, and momentum
    # (FedAdam's beta1). None = the algorithm's default (SERVER_LR).
    server_lr: float | None = Field(default=None, gt=0)
    server_momentum: float = Field(default=0.9, ge=0, lt=1)
    # FedBN: batch-norm layers stay at each site (each site gets its own back every round).
    fedbn: bool = True
    # Bins per class of the score histograms behind the pooled AUC (fedcommon.metrics).
    auc_bins: int = Field(default=100, ge=2, le=1000)
    # Stop when fewer sites train in a round; None = a majority of the sites.
    min_sites: int | None = Field(default=None, ge=1)
    site_timeout_s: float = Field(default=600.0, gt=0)
    spare_executions: int = Field(default=2, ge=0)
    # DP-SGD at every site (Opacus); the declared cost covers rounds + spare_executions.
    privacy: PrivacySettings | None = None

    @model_validator(mode="after")
    def _dp_needs_a_dp_model(self) -> ExperimentConfig:
        if self.privacy is not None and not self.task:
            raise ValueError(
                "[privacy] needs a DP-aware site task, e.g. "
                'task = "examples/tasks/dp_cnn.py:dp_cnn"'
            )
        if self.privacy is not None and self.model.norm == "batch":
            raise ValueError(
                "batch norm is not DP-compatible (each sample's output depends on the rest of "
                'its batch); set norm = "group" in [model]'
            )
        return self

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"'{name}' must be lowercase letters, digits and _ (starting with a letter); "
                "it names the code request at every site"
            )
        return name

    @field_validator("task_config")
    @classmethod
    def _own_keys(cls, table: dict[str, Any]) -> dict[str, Any]:
        clash = sorted(set(table) & {*PLATFORM_SETTINGS, "model"})
        if clash:
            raise ValueError(
                f"{clash} are experiment settings every task receives; set them at the top "
                "of the experiment file, not in [task_config]"
            )
        return table

    @field_validator("inputs")
    @classmethod
    def _some_inputs(cls, inputs: tuple[AssetName, ...]) -> tuple[AssetName, ...]:
        if not inputs or len(set(inputs)) != len(inputs):
            raise ValueError(f"list each asset once, at least one (got {list(inputs)})")
        return inputs

    def site_config(self) -> dict[str, Any]:
        """The task's ``config`` argument, bound as a constant (the admin sees it): the
        platform settings, the [model] table, and the task's own [task_config] table."""
        return {
            "model": self.model.model_dump(),
            **self.model_dump(include=set(PLATFORM_SETTINGS)),
            **self.task_config,
        }

    def server_settings(self) -> ServerSettings:
        lr = self.server_lr if self.server_lr is not None else SERVER_LR.get(self.algorithm, 1.0)
        fedbn = self.fedbn and self.model.norm == "batch"
        return ServerSettings(self.algorithm, lr, self.server_momentum, fedbn=fedbn)

    def required_sites(self, n_sites: int) -> int:
        """``min_sites``, or a majority of ``n_sites`` when it is not set."""
        return self.min_sites if self.min_sites is not None else n_sites // 2 + 1

    @property
    def execution_budget(self) -> int:
        """Calls one approval covers: one call per round (it evaluates the model it receives,
        then trains), the final model's evaluation, and spares for re-running a round after an
        interruption."""
        return self.rounds + 1 + self.spare_executions

    def fingerprint(self) -> str:
        """Identifies what is trained (not how long): a resumed run must match it."""
        payload = json.dumps(self.model_dump(exclude={"rounds", "site_timeout_s"}), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def function_name(self, source: str) -> str:
        """The syft function's name: unique per experiment and per version of its content
        (syft resolves ``client.code.<name>`` to the first version submitted under a name)."""
        payload = json.dumps(self.site_config(), sort_keys=True) + source
        payload += json.dumps([self.dataset, self.execution_budget, list(self.inputs)])
        if self.privacy is not None:
            payload += self.privacy.model_dump_json()
        return f"fl_{self.name}_{hashlib.sha256(payload.encode()).hexdigest()[:8]}"


def _resolved(experiment_file: Path, task: str) -> str:
    file_part, function = task.rsplit(":", 1)
    return f"{(Path(experiment_file).resolve().parent / file_part)}:{function}"


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"The {what} file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"The {what} file {path} is not valid TOML: {err}.") from None


def _validation_message(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in err.errors()
    )


def load_sites(path: Path) -> SitesConfig:
    """Parse ``sites.toml`` (format owned by :mod:`fedcommon.sites_file`)."""
    try:
        return sites_file.read(path)
    except sites_file.SitesFileError as err:
        raise ConfigError(err.message) from None


def load_experiment(path: Path) -> ExperimentConfig:
    """Parse ``experiment.toml``; a relative ``task`` path becomes relative to its folder."""
    raw = _read_toml(path, "experiment")
    task = str(raw.get("task", ""))
    if task and ":" in task and not Path(task.rsplit(":", 1)[0]).is_absolute():
        raw["task"] = _resolved(path, task)
    try:
        return ExperimentConfig(**raw)
    except ValidationError as err:
        raise ConfigError(
            f"{path} is not a valid experiment file ({_validation_message(err)}); see "
            "examples/experiment.toml."
        ) from None
