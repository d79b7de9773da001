"""Reliability: failure models, checkpoints, recovery and stragglers over a whole training campaign,
on top of the step simulation (two time scales: iteration times per health state, memoized, and a
campaign of days to months of failures, checkpoints and restarts)."""

from .campaign import Campaign
from .checkpoint import CheckpointCost, checkpoint_bytes, checkpoint_cost, daly_ettr, daly_interval, young_interval
from .failure_model import FailureModel, catalog_names, load_failure_model
from .health import Health, StepTimes
from .montecarlo import CampaignRun, mean_ci, run_trials

__all__ = ["Campaign", "CampaignRun", "CheckpointCost", "FailureModel", "Health", "StepTimes", "catalog_names",
           "checkpoint_bytes", "checkpoint_cost", "daly_ettr", "daly_interval", "load_failure_model", "mean_ci",
           "run_trials", "young_interval"]
