"""More vaults want a hedge than the batcher takes in one batch (its ``maxBatch``).

On a real devnet whose batcher takes at most two vaults a batch, all three vaults are out of
band at once. The keeper sends the batcher's maximum and leaves the rest for the next cycle; it
does not send a batch the batcher refuses whole (``RebalanceBatcherBadBatchSize``), which would
fail the cycle and every cycle after it for as long as that many vaults want a hedge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keeper.app.cycle import run_cycle
from keeper.chain.anvil import Anvil
from tests.integration.test_keeper_e2e import Stack, _batch_vaults, _build, _keeper

pytestmark = pytest.mark.integration


@pytest.fixture
def stack() -> Iterator[Stack]:
    with Anvil() as node:
        yield _build(node, batcher_max_batch=2)


def test_a_fleet_wider_than_max_batch_is_hedged_max_batch_vaults_a_transaction(
    stack: Stack, tmp_path: Path
) -> None:
    assert int(stack.batcher.functions.maxBatch().call()) == 2
    every = set(stack.addresses())
    k = _keeper(stack, tmp_path)

    first = run_cycle(k)
    assert set(first.planned) == every  # freshly written books: all three want a hedge
    assert first.tx_status == "mined"
    sent = _batch_vaults(stack, first.tx_hash or "")
    assert len(sent) == 2
    [left] = every - set(sent)
    assert first.dropped == {left: "deferred: the batcher takes at most 2 vaults a batch"}
    # Waiting for a later batch is no disagreement with the chain: nothing to read again.
    assert k.metrics.value("keeper_trigger_disagreements_total") == 0

    second = run_cycle(k)
    assert second.tx_status == "mined"
    assert _batch_vaults(stack, second.tx_hash or "") == [left]
    assert stack.out_of_band() == set()
