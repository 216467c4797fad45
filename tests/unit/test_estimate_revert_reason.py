"""A call that reverts without revert data is said so in words, not as a Python tuple.

``keeper vault deposit`` on a token whose ``approve`` reverted with no data printed
``approve would revert: ('execution reverted', '0x'); nothing sent``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account
from web3.exceptions import ContractLogicError

from keeper.errors import TxRevertedError
from keeper.execution.transactions import Transactor


def _reverting(message: str) -> Any:
    def estimate_gas(_params: object) -> int:
        raise ContractLogicError(message, data="0x")

    return SimpleNamespace(eth=SimpleNamespace(estimate_gas=estimate_gas))


@pytest.mark.parametrize(
    ("node_says", "reason"),
    [
        ("execution reverted", "reverted without a reason (no revert data)"),
        (
            "execution reverted: SafeERC20: low-level call failed",
            "execution reverted: SafeERC20: low-level call failed",
        ),
    ],
)
def test_a_revert_without_data_is_said_in_words(node_says: str, reason: str) -> None:
    tx = Transactor(_reverting(node_says), Account.create())
    with pytest.raises(TxRevertedError) as info:
        tx.estimate_gas("0x" + "11" * 20, b"\x09\x5e\xa7\xb3", what="approve")
    assert str(info.value) == f"approve would revert: {reason}; nothing sent"
