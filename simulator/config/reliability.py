"""The `reliability:` section of a scenario: failures, checkpoints, recovery, stragglers, campaign.

Times are wall-clock seconds inside, rates per component and per unit of wall-clock time. Defaults
whose value comes from a publication name it in their doc; the others are stated assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError
from .strict import option


@dataclass(frozen=True)
class CheckpointConfig:
    """How the job checkpoints: when, how it blocks training, and where the bytes go."""

    interval: float | None = option(None, unit="time", minimum=1e-3,
                                    doc="Time of training between checkpoints (fixed policy); unset: "
                                        "the `policy` optimum.")
    interval_iterations: int | None = option(None, minimum=1, doc="Checkpoint every this many iterations "
                                             "(Megatron --save-interval); converted at the healthy step time.")
    policy: str = option("daly", choices=("fixed", "young", "daly"),
                         doc="Interval when neither interval key is given: Young (1974) sqrt(2 delta M) or "
                             "Daly (2006) higher-order optimum, from the save cost delta and the job's "
                             "mean time to interruption M.")
    mode: str = option("async", choices=("async", "sync"),
                       doc="async: only the copy from HBM to host memory blocks training, the write to "
                           "storage overlaps it; sync: training waits for the write.")
    storage_bandwidth: float = option(2e12, unit="bandwidth", minimum=1.0,
                                      doc="Write bandwidth of the shared storage, all ranks together; "
                                          "default 2 TB/s, the sustained rate of Llama 3's Tectonic "
                                          "(arXiv:2407.21783 Sec. 3.3.1).")
    storage_read_bandwidth: float | None = option(None, unit="bandwidth", minimum=1.0,
                                                  doc="Read bandwidth on restart; default storage_bandwidth.")
    server_storage_bandwidth: float | None = option(
        None, unit="bandwidth", minimum=1.0,
        doc="Per server, host memory to storage (front-end network); default one NIC's "
            "system.topology.nic_bandwidth.")
    in_memory: bool = option(False, doc="Also keep each checkpoint in a peer server's host memory and "
                                        "restore from it (over the NICs) instead of from storage.")
    size: float | None = option(None, unit="bytes", minimum=1.0,
                                doc="Whole-job checkpoint size; default from the memory plan (weights + "
                                    "optimizer states, sharded as the plan shards them).")

    def check(self, path: str) -> None:
        if self.interval is not None and self.interval_iterations is not None:
            raise ConfigError(f"{path}.interval_iterations", self.interval_iterations,
                              "either interval or interval_iterations, not both")
        fixed = self.interval is not None or self.interval_iterations is not None
        if self.policy == "fixed" and not fixed:
            raise ConfigError(f"{path}.policy", self.policy,
                              "'young' or 'daly', or give interval / interval_iterations for a fixed interval")


@dataclass(frozen=True)
class RecoveryConfig:
    """What happens between a failure and training again."""

    policy: str = option("spares", choices=("spares", "elastic"),
                         doc="spares: restart the whole job, replacing failed servers from the spare pool "
                             "(waiting for a repair when it is empty); elastic: restart with fewer "
                             "data-parallel replicas when no spare is left.")
    network_failures: str = option("restart", choices=("restart", "route_around"),
                                   doc="A failed spine/core switch or switch-to-switch cable: restart the "
                                       "job on the remaining fabric, or keep training while traffic is "
                                       "routed around it; either way at the degraded step time until repair.")
    spare_servers: int | None = option(None, minimum=0, doc="Servers kept idle to replace failed ones; default "
                                                            "2 % of the job's servers, rounded up.")
    repair_time: float = option(86400.0, unit="time", minimum=0.0,
                                doc="Mean time to repair a failed server or switch (an assumption: set "
                                    "your site's).")
    repair_distribution: str = option("exponential", choices=("exponential", "fixed", "lognormal"),
                                      doc="Distribution of repair times (lognormal with sigma 1).")
    watchdog_timeout: float = option(600.0, unit="time", minimum=0.0,
                                     doc="A hang is noticed only after this; default 10 min, PyTorch's NCCL "
                                         "timeout (pytorch/pytorch PR #110947).")
    fail_stop_detection: float = option(0.0, unit="time", minimum=0.0,
                                        doc="A fail-stop error (crash, XID error) is noticed after this.")
    diagnosis: float = option(300.0, unit="time", minimum=0.0,
                              doc="Finding and draining the failed component; default 5 min, the node "
                                  "health-check period of Meta's RSC (Kokolis et al. 2024).")
    reschedule: float = option(120.0, unit="time", minimum=0.0, doc="Scheduler allocates the servers again.")
    process_start: float = option(180.0, unit="time", minimum=0.0,
                                  doc="Containers and processes start, libraries load.")
    nccl_init: float = option(60.0, unit="time", minimum=0.0, doc="Communicators are set up again.")


@dataclass(frozen=True)
class StragglerConfig:
    """Slow components that do not fail: the job runs at the pace of the slowest."""

    gpu_rate: float = option(0.0, minimum=0.0, doc="Slow-GPU episodes per GPU per day.")
    host_rate: float = option(0.0, minimum=0.0, doc="Slow-server episodes (all its GPUs) per server per day.")
    duration: float = option(3600.0, unit="time", minimum=1e-3, doc="Mean episode length (exponential).")
    slowdown_min: float = option(1.1, minimum=1.0, doc="Compute time multiplier of a slow GPU, drawn uniformly "
                                                       "between slowdown_min and slowdown_max.")
    slowdown_max: float = option(1.5, minimum=1.0, doc="See slowdown_min.")
    link_rate: float = option(0.0, minimum=0.0, doc="Degraded-cable episodes per switch cable per day.")
    link_factor: float = option(0.5, minimum=0.01, maximum=1.0,
                                doc="Capacity left on a degraded cable (0.5: a cable at half rate).")
    diurnal_amplitude: float = option(0.0, minimum=0.0, maximum=0.5,
                                      doc="Throughput lost at the hottest hour of the day (0.015: 1.5 %; "
                                          "Llama 3 saw 1-2 %, arXiv:2407.21783 Sec. 3.3.4).")

    def check(self, path: str) -> None:
        if self.slowdown_max < self.slowdown_min:
            raise ConfigError(f"{path}.slowdown_max", self.slowdown_max, f"at least slowdown_min={self.slowdown_min}")


@dataclass(frozen=True)
class ReliabilityConfig:
    """A training campaign over days to months: which failures, how the job survives them."""

    failure_model: str = option("llama3-h100", doc="A failure model name (`clustersim catalog`) or a "
                                                   "path to a failure model YAML file.")
    duration: float | None = option(None, unit="time", minimum=1.0,
                                    doc="Wall-clock length of the campaign; default 30 days unless "
                                        "token_budget is given.")
    token_budget: float | None = option(None, minimum=1.0,
                                        doc="Stop when this many tokens are trained (and checkpointed).")
    trials: int = option(100, minimum=1, maximum=1_000_000, doc="Independent Monte Carlo trials.")
    seed: int | None = option(None, minimum=0, doc="Seed of the failure streams; default simulation.seed.")
    checkpoint: CheckpointConfig = option(CheckpointConfig(), doc="See `reliability.checkpoint`.")
    recovery: RecoveryConfig = option(RecoveryConfig(), doc="See `reliability.recovery`.")
    stragglers: StragglerConfig = option(StragglerConfig(), doc="See `reliability.stragglers`.")

    def check(self, path: str) -> None:
        if self.duration is not None and self.token_budget is not None:
            raise ConfigError(f"{path}.token_budget", self.token_budget, "either duration or token_budget, not both")
