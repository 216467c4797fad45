"""The devnet node keeps a bounded history in memory and writes no state to disk."""

from __future__ import annotations

import pytest
from web3.exceptions import Web3RPCError

from keeper.chain.anvil import HISTORY_BLOCKS, Anvil
from keeper.chain.connection import connect

pytestmark = pytest.mark.integration

RICH = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil's first account


def _mine(node: Anvil, blocks: int) -> None:
    resp = connect(node.url).provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]
    assert "error" not in resp, resp


def test_recent_states_are_kept_and_older_ones_dropped_not_written_to_disk() -> None:
    # Old states are dropped, not persisted under ~/.foundry/anvil/tmp, where a killed node
    # would leave them behind (gigabytes each run with the benchmarks' 10,000 vaults).
    with Anvil() as node:
        w3 = connect(node.url)
        _mine(node, HISTORY_BLOCKS + 50)
        head = w3.eth.block_number
        assert w3.eth.get_balance(RICH, block_identifier=head - 10) > 0
        with pytest.raises(Web3RPCError, match="BlockOutOfRange"):
            w3.eth.get_balance(RICH, block_identifier=1)
    with Anvil(history=None) as node:  # anvil's own default keeps them
        w3 = connect(node.url)
        _mine(node, HISTORY_BLOCKS + 50)
        assert w3.eth.get_balance(RICH, block_identifier=1) > 0
