"""Everything a keeper cycle talks to, in one :class:`Keeper` (passed in, never global)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from keeper.app.market import PriceHistory
from keeper.app.sweep import SWEEP_SLICE
from keeper.chain.connection import RpcCounter
from keeper.chain.l1fee import L1FeeReader, NoL1Fee
from keeper.chain.lens import LensReader
from keeper.execution.decode import ErrorDecoder
from keeper.execution.sender import Sender
from keeper.execution.simulate import BatchCodec
from keeper.ops.alerts import Alerter
from keeper.ops.metrics import Metrics
from keeper.settings import CycleConfig
from keeper.strategy import Policy


@dataclass
class Keeper:
    """The collaborators of a cycle.

    Build with :func:`keeper.app.wiring.build_keeper`, or by hand in tests. With no ``sender``
    the keeper is in dry-run mode: it observes and decides, and never signs.
    """

    w3: Web3
    vaults: list[str]
    lens: LensReader
    policy: Policy
    config: CycleConfig
    batcher: str | None = None
    sender: Sender | None = None
    simulate_from: str | None = None
    l1fee: L1FeeReader = field(default_factory=NoL1Fee)
    decoder: ErrorDecoder = field(default_factory=ErrorDecoder)
    metrics: Metrics = field(default_factory=Metrics)
    alerter: Alerter = field(default_factory=lambda: Alerter(None))
    history: PriceHistory = field(default_factory=PriceHistory)
    counter: RpcCounter | None = None
    codec: BatchCodec | None = None
    chain_id: int | None = None
    #: Vaults whose underlying is ETH (its token's symbol WETH or ETH, read at start-up), in lower
    #: case: with ``KEEPER_ETH_USD`` unset, gas and the L1 fee are priced at their oracle price.
    #: ``None``: not read (a keeper built by hand), and every vault's price is ETH's.
    eth_vaults: frozenset[str] | None = None
    #: The last ETH price a cycle priced gas at: a cycle with no ETH vault priced keeps it.
    eth_usd_seen: float | None = None
    #: Vaults whose keeper role the signer lacks: a lone one goes through the batcher, not to
    #: the vault itself (found by simulation, remembered for the process).
    no_direct: set[str] = field(default_factory=set)
    #: The last L1-fee estimate for planning: (block it was read at, (fixed, per vault)).
    l1_estimate: tuple[int, tuple[int, int, int]] | None = None
    #: Vaults the policy wants but whose trigger is not ready: the first block seen so.
    blocked_since: dict[str, int] = field(default_factory=dict)
    #: Of those, the streak (blocks) their last ``blocked`` alert reported.
    blocked_alerted: dict[str, int] = field(default_factory=dict)
    #: Set while sends wait for the base fee to fall under the cap (one alert per spike).
    fee_capped: bool = False
    #: The block the signer's balance was last read at.
    balance_read_at: int | None = None
    #: The head block's header as the loop's poll last read it (number, timestamp, base fee):
    #: the cycle that follows prices its batch with it instead of reading it again.
    head_block: Mapping[str, Any] | None = None
    #: Headers the same poll read for the sender's reorg check (block number -> header).
    probe_headers: dict[int, Any] | None = None
    #: Each vault's locked collateral at the last observation that read it: a fall is a
    #: settlement (by anyone), whose freed quote may serve the vault's redemption queue. A
    #: signing keeper keeps them in its journal too, and starts from them.
    locked_seen: dict[str, int] = field(default_factory=dict)
    #: Vaults whose redemption queue may have something to fill (freed by a settlement, or
    #: found by the queue sweep), kept until the cycle's fill step, after its hedge, could look
    #: at every one: one that could send nothing (a transaction pending) leaves them due.
    #: Ordered, no values.
    fill_due: dict[str, None] = field(default_factory=dict)
    #: Settlements (vault in lower case, series id, hint) whose simulation was refused in a way a
    #: node behind the cycle could cause, and that waited a cycle for it: refused so again, they
    #: are alerted (:func:`keeper.app.settle._behind`).
    settle_refused_once: set[tuple[str, int, int]] = field(default_factory=set)
    #: Each vault's redemption queue, once read (the vault's admin sets it once).
    queue_of: dict[str, str] = field(default_factory=dict)
    #: The chain timestamp the last queue sweep started at (:mod:`keeper.app.sweep`); None:
    #: none yet. The vaults that sweep has still to read (empty: none under way), and the
    #: queues it found worth a fill so far.
    swept_at: int | None = None
    sweep_left: list[str] = field(default_factory=list)
    sweep_found: int = 0
    #: Vaults a sweep reads a cycle (``keeper check``, one cycle: all of them).
    sweep_slice: int = SWEEP_SLICE
    #: One cycle, and no next one (``keeper check``, ``keeper rehearse``:
    #: :func:`keeper.app.cycle.run_alone`): a read the loop leaves to its next cycle when the
    #: node fails it (the queue sweep's, the fill step's, the blockers') fails this cycle
    #: instead, which would otherwise report a cycle with less in it than it would do.
    one_cycle: bool = False
    #: Attempts of each read the cycle makes itself (``KEEPER_RPC_RETRIES``, as the lens's):
    #: the blockers' (:func:`keeper.app.observe.explain_blocked`), the queue sweep's, and the
    #: settle and fill steps' (:mod:`keeper.app.settle`).
    rpc_retries: int = 3

    @property
    def dry_run(self) -> bool:
        """True when there is no signer."""
        return self.sender is None
