"""The runner's cost inputs price a lone vault as the transaction it sends: the vault's own.

A one-vault plan goes to the vault itself (``KEEPER_DIRECT_SINGLE``), so the planner must see
that transaction's gas and L1 fee (``CostInputs.gas_direct``, ``l1_fee_direct_wei``), read from
the L1-fee oracle with the batch's parts, and must not see them when the path is off.
"""

from __future__ import annotations

from keeper.app.cycle import run_cycle
from keeper.app.market import batch_costs
from keeper.execution.simulate import direct_calldata
from keeper.strategy import CostAwarePolicy
from tests.unit.test_app_cycle import BATCHER, WAD, make_keeper, snap, vault

DIRECT_LEN = len(direct_calldata(-123))  # a rebalanceTo(post): selector + one word


class LenL1:
    """An OP-style L1 fee: 1,000 wei plus 10 a calldata byte, or ``direct`` for a direct call."""

    name = "op"

    def __init__(self, direct: int | None = None) -> None:
        self.direct = direct
        self.seen: list[int] = []

    def fee(self, signed: bytes, to: str, data: bytes) -> int:
        self.seen.append(len(data))
        if self.direct is not None and len(data) == DIRECT_LEN:
            return self.direct
        return 1_000 + 10 * len(data)


def test_direct_gas_and_l1_fee_reach_the_cost_inputs() -> None:
    l1 = LenL1()
    k = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=l1, chain_id=10)
    costs = batch_costs(k, [object()])  # type: ignore[list-item]
    assert costs.gas_direct == k.config.gas_direct > 0
    assert costs.l1_fee_direct_wei == 1_000 + 10 * DIRECT_LEN
    assert sorted(l1.seen)[0] == DIRECT_LEN  # priced with the two dummy batches, once
    assert len(l1.seen) == 3
    assert costs.l1_fee_direct_wei < costs.l1_fee_fixed_wei + costs.l1_fee_per_vault_wei


def test_no_direct_pricing_without_the_direct_path() -> None:
    off = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    off.config = off.config.model_copy(update={"direct_single": False})
    assert batch_costs(off, [object()]).gas_direct == 0  # type: ignore[list-item]
    # A vault found without its keeper role goes through the batcher: lone vaults are then
    # priced as batches of one (conservative for the vaults that have the role).
    lacking = make_keeper([snap(0, -WAD)], batcher=BATCHER, l1fee=LenL1(), chain_id=10)
    lacking.no_direct.add(vault(0))
    assert batch_costs(lacking, [object()]).gas_direct == 0  # type: ignore[list-item]


def test_a_large_direct_l1_fee_reaches_the_live_plan() -> None:
    # Only the direct transaction's L1 fee is large: a lone vault no longer pays for it.
    def planned(direct_wei: int) -> tuple[str, ...]:
        k = make_keeper([snap(0, -WAD // 2)], batcher=BATCHER, l1fee=LenL1(direct_wei), chain_id=10)
        k.policy = CostAwarePolicy(risk_aversion=1e-3)
        return run_cycle(k).planned

    assert planned(0) == (vault(0),)
    assert planned(10**18) == ()  # 1 ETH (3000 USD) of L1 fee for the vault's own transaction
