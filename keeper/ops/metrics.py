"""Prometheus metrics (prometheus-client), on a registry of their own (no import-time globals).

Every value of a labelled counter's label is served at 0 from the start (:data:`LABEL_VALUES`):
``rate()`` and ``increase()`` need two samples, so a series that first appears at 1 (the first
failed batch of a process) went unseen by an alert rule. The README's metrics table lists the
same names, types, labels and values (``tests/unit/test_day2_metrics.py`` holds them equal).
Counters are the process's own: they start at 0 each time the keeper starts.
"""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from keeper.errors import ConfigError

logger = logging.getLogger(__name__)

#: Each labelled counter's label and every value the keeper books under it (exposed names).
LABEL_VALUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "keeper_cycles_total": ("result", ("ok", "failed")),
    # sent: a rebalance transaction that finished (its outcome is one of the next four);
    # replaced: each fee bump; reorged/reincluded: a mined batch a reorg removed / mined again.
    "keeper_rebalances_total": (
        "state",
        (
            "sent",
            "mined",
            "failed",
            "vault_reverted",
            "cancelled",
            "replaced",
            "reorged",
            "reincluded",
        ),
    ),
    # settled_by_other: someone else settled it first (no alert); simulated: a dry run's.
    "keeper_settlements_total": (
        "outcome",
        ("settled", "settled_by_other", "failed", "waiting", "simulated"),
    ),
}


class Metrics:
    """The keeper's metrics. Build one per process (tests build their own)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.cycles = Counter("keeper_cycles", "Keeper cycles run", ["result"], registry=r)
        self.cycle_seconds = Histogram(
            "keeper_cycle_seconds",
            "Wall time of one cycle",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.rpc_requests_cycle = Gauge(
            "keeper_rpc_requests_per_cycle", "RPC round trips in the last cycle", registry=r
        )
        self.rpc_calls_cycle = Gauge(
            "keeper_rpc_calls_per_cycle", "JSON-RPC calls in the last cycle", registry=r
        )
        self.rpc_requests = Counter("keeper_rpc_requests", "RPC round trips", registry=r)
        self.vault_delta = Gauge(
            "keeper_vault_delta", "Net delta (underlying)", ["vault"], registry=r
        )
        self.vault_band = Gauge(
            "keeper_vault_band", "Band half-width (underlying)", ["vault"], registry=r
        )
        self.vault_deviation = Gauge(
            "keeper_vault_deviation", "|delta - target| / band", ["vault"], registry=r
        )
        self.rebalances = Counter(
            "keeper_rebalances", "Rebalance transactions by state", ["state"], registry=r
        )
        self.vaults_rebalanced = Counter(
            "keeper_vaults_rebalanced", "Vaults rebalanced by mined transactions", registry=r
        )
        self.gas_spent_wei = Counter("keeper_gas_spent_wei", "L2 execution fee paid", registry=r)
        self.l1_fee_spent_wei = Counter("keeper_l1_fee_spent_wei", "L1 data fee paid", registry=r)
        self.balance_wei = Gauge("keeper_balance_wei", "Keeper account balance", registry=r)
        self.consecutive_failures = Gauge(
            "keeper_consecutive_failures", "Failed cycles in a row", registry=r
        )
        self.last_block = Gauge("keeper_last_block", "Block of the last cycle", registry=r)
        self.vaults_blocked = Gauge(
            "keeper_vaults_blocked",
            "Vaults out of band that the policy wants but whose own checks refuse (last cycle)",
            registry=r,
        )
        # Settlement of expired series (keeper/app/settle.py). outcome: settled, settled_by_other
        # (someone else settled it first: no alert), failed, waiting, simulated.
        self.settlements = Counter(
            "keeper_settlements",
            "Settlements of expired series by outcome",
            ["outcome"],
            registry=r,
        )
        self.expired_unsettled = Gauge(
            "keeper_expired_unsettled", "Expired series not yet settled", registry=r
        )
        # The queue sweep (keeper/app/sweep.py): queues its last sweep found worth a fill.
        self.queues_fillable = Gauge(
            "keeper_queues_fillable",
            "Redemption queues the last queue sweep found the free quote can serve",
            registry=r,
        )
        # Fault tolerance.
        self.transient_failures = Counter(
            "keeper_transient_failures",
            "Cycles failed on a transient fault (not counted by the breaker)",
            registry=r,
        )
        # The off-chain trigger against the batch simulation (keeper/pricing/trigger.py).
        self.trigger_disagreements = Counter(
            "keeper_trigger_disagreements",
            "Vaults the off-chain trigger found ready that the chain refused (dropped by the "
            "simulation, failed inside a mined batch, or reverted alone)",
            registry=r,
        )
        labelled = {
            "keeper_cycles_total": self.cycles,
            "keeper_rebalances_total": self.rebalances,
            "keeper_settlements_total": self.settlements,
        }
        for exposed, counter in labelled.items():
            for value in LABEL_VALUES[exposed][1]:
                counter.labels(value)  # served at 0 before it first happens

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose ``/metrics`` over HTTP on ``addr:port`` (a daemon thread).

        Raises:
            ConfigError: The port cannot be bound (in use, or not this user's to bind).
        """
        try:
            start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:  # worded as `keeper web` words it
            raise ConfigError(
                f"KEEPER_METRICS_PORT {port}: cannot listen on {addr}:{port}: {exc.strerror}"
            ) from None
        logger.info("metrics on http://%s:%d/metrics", addr, port)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Read one sample (``name`` as exposed, e.g. ``keeper_cycles_total``); 0 if absent."""
        v = self.registry.get_sample_value(name, labels or {})
        return float(v) if v is not None else 0.0
