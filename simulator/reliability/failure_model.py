"""Failure models as data: per component class, a rate, a lifetime distribution and how the failure
shows itself.

Modelling assumptions:
- Each component (a GPU, a NIC, a server, a switch, a cable) fails as a renewal process: a
  lifetime is drawn from the class's distribution, the part is replaced when it fails, and a new
  lifetime starts; components are new at the start of the campaign (so a Weibull shape < 1 shows
  infant mortality early). All distributions of a class share its mean, 1 / rate, so switching
  from exponential to Weibull or lognormal changes the spread, not the average count.
- Rates are per component and per unit of wall-clock time, as the published tables count them
  (failures over the days of a run), including software classes.
- Planned maintenance is one job-level Poisson process of clean stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..config import ConfigError, read_mapping
from ..config.loader import regular_file
from ..config.strict import load_dataclass, option

CATALOG = Path(__file__).resolve().parent.parent / "data" / "failure_models"
YEAR = 365.0 * 86400.0
DAY = 86400.0

# What a failure strikes; see components.Inventory. "network" is every switch and cable alike.
COMPONENTS = ("gpu", "nic", "server", "switch", "cable", "network")
DISTRIBUTIONS = ("exponential", "weibull", "lognormal")


@dataclass(frozen=True)
class FailureClass:
    """One cause of interruptions, e.g. 'faulty GPU' or 'NIC'."""

    name: str = option(doc="The cause, as reports name it.")
    component: str = option(choices=COMPONENTS, doc="What it strikes in the topology.")
    failures_per_year: float = option(minimum=0.0, doc="Mean failures per component per year of wall-clock time.")
    source: str = option(doc="Where the figure comes from.")
    distribution: str = option("exponential", choices=DISTRIBUTIONS, doc="Lifetime distribution.")
    shape: float | None = option(None, minimum=0.05, maximum=20.0, doc="Weibull shape k (k < 1: infant mortality).")
    sigma: float | None = option(None, minimum=0.01, maximum=5.0, doc="Lognormal sigma of log-lifetimes.")
    detection: str = option("fail_stop", choices=("fail_stop", "hang"),
                            doc="fail_stop: noticed at once; hang: only after the watchdog timeout.")
    category: str = option("", doc="The source's grouping (e.g. Llama 3 Table 5's GPU, Host, Network).")
    derivation: str = option("", doc="How the rate follows from the source's figures.")

    def check(self, path: str) -> None:
        if self.distribution == "weibull" and self.shape is None:
            raise ConfigError(f"{path}.shape", None, "a Weibull shape k > 0 (e.g. 0.7) when distribution is weibull")
        if self.distribution == "lognormal" and self.sigma is None:
            raise ConfigError(f"{path}.sigma", None, "a lognormal sigma > 0 (e.g. 1.0) when distribution is lognormal")

    @property
    def mean_lifetime(self) -> float:
        return YEAR / self.failures_per_year if self.failures_per_year > 0 else math.inf

    def lifetimes(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` lifetimes (s), all with mean 1 / rate."""
        mean = self.mean_lifetime
        if self.distribution == "weibull":
            return rng.weibull(self.shape, n) * (mean / math.gamma(1.0 + 1.0 / self.shape))
        if self.distribution == "lognormal":
            return rng.lognormal(math.log(mean) - self.sigma**2 / 2, self.sigma, n)
        return rng.exponential(mean, n)


@dataclass(frozen=True)
class PlannedMaintenance:
    """Clean, planned stops of the whole job (firmware and kernel upgrades, configuration changes)."""

    per_day: float = option(minimum=0.0, doc="Mean planned stops per day (Poisson).")
    source: str = option(doc="Where the figure comes from.")
    downtime: float = option(0.0, unit="time", minimum=0.0, doc="Extra time the job stays down beyond its restart.")
    derivation: str = option("", doc="How the rate follows from the source.")


@dataclass(frozen=True)
class FailureModel:
    name: str = option(doc="Short name.")
    description: str = option(doc="What the model describes.")
    classes: tuple[FailureClass, ...] = option(doc="The failure classes.")
    planned: PlannedMaintenance | None = option(None, doc="Planned maintenance stops.")
    reference: str = option("", doc="The cluster the rates were derived on, with its component counts.")

    def check(self, path: str) -> None:
        names = [c.name for c in self.classes]
        if not names:
            raise ConfigError(f"{path}.classes", [], "at least one failure class")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"{path}.classes", dup[0], "distinct class names")


def catalog_names() -> list[str]:
    return sorted(p.stem for p in CATALOG.glob("*.yaml"))


@lru_cache(maxsize=None)
def load_failure_model(ref: str, where: str = "scenario.reliability.failure_model") -> FailureModel:
    """By catalog name (e.g. 'llama3-h100') or by path to a YAML file of the same shape."""
    accepted = "a failure model name (" + ", ".join(catalog_names()) + ") or a path to a failure model YAML file"
    if ref in catalog_names():   # a name is a name: no path is built from it
        path = CATALOG / f"{ref}.yaml"
    elif ref.endswith((".yaml", ".yml", ".json")):
        path = regular_file(Path(ref), where, accepted)
    else:
        raise ConfigError(where, ref, accepted)
    return load_dataclass(FailureModel, read_mapping(path, where), f"failure model {path.name}")
