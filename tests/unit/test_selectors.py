"""Every selector and topic the keeper writes by hand is the one the compiled contracts use.

A selector typed from memory matches its own unit tests (they build calldata from the same
constant) and nothing on chain: ``settle(uint256,uint256)`` for the vault's
``settle(uint256,uint80)`` made every settlement finished by a later cycle fall through to the
"something else" branch (a mined one not counted, one beaten by another settler alerted).
"""

from __future__ import annotations

import pytest
from eth_utils import abi_to_signature
from eth_utils.crypto import keccak

from keeper.app import act, demo, settle
from keeper.chain import blockers, lens, queues, vaults
from keeper.chain.artifacts import load_artifact
from keeper.execution import simulate


def _abi_hash(contract: str, kind: str, name: str) -> bytes:
    """The keccak of ``name``'s signature in ``contract``'s compiled ABI (exactly one match)."""
    found = [
        abi_to_signature(item)
        for item in load_artifact(contract).abi
        if item.get("type") == kind and item.get("name") == name
    ]
    assert len(found) == 1, (contract, kind, name, found)
    return bytes(keccak(text=found[0]))


SELECTORS = [
    (settle.SETTLE_SELECTOR, "OptionVault", "function", "settle"),
    (settle.FILL_SELECTOR, "RedemptionQueue", "function", "fill"),
    (settle._ALREADY_SETTLED, "OptionVault", "error", "OptionVaultAlreadySettled"),
    (simulate.REBALANCE_SELECTOR, "OptionVault", "function", "rebalance"),
    (simulate.REBALANCE_TO_SELECTOR, "OptionVault", "function", "rebalanceTo"),
    (simulate.SETTLE_BATCH_SELECTOR, "RebalanceBatcher", "function", "settleBatch"),
    (simulate.FILL_BATCH_SELECTOR, "RebalanceBatcher", "function", "fillBatch"),
    (simulate.UNAUTHORIZED_SELECTOR, "OptionVault", "error", "AccessControlUnauthorizedAccount"),
    (blockers.REBALANCE_BLOCKER, "OptionVault", "function", "rebalanceBlocker"),
    (lens.LEAN_SELECTOR, "VaultLens", "function", "snapshotLean"),
    (lens.LEAN_SINCE_SELECTOR, "VaultLens", "function", "snapshotLeanSince"),
    (bytes(queues.REDEMPTION_QUEUE), "OptionVault", "function", "redemptionQueue"),
    (bytes(queues.FILLABLE), "RedemptionQueue", "function", "fillable"),
    (bytes(queues.TOTAL_PENDING), "RedemptionQueue", "function", "totalPending"),
]


@pytest.mark.parametrize(("selector", "contract", "kind", "name"), SELECTORS)
def test_a_hand_written_selector_is_the_compiled_one(
    selector: bytes, contract: str, kind: str, name: str
) -> None:
    assert selector == _abi_hash(contract, kind, name)[:4]


def test_the_pool_short_selectors_are_the_compiled_errors() -> None:
    assert {
        _abi_hash("UniswapV3Venue", "error", "HedgeVenueInsufficientOutput")[:4],
        _abi_hash("RebalanceBatcher", "error", "RebalanceBatcherInsufficientOutput")[:4],
    } == simulate.POOL_SHORT_SELECTORS


TOPICS = [
    (act.VAULT_FAILED_TOPIC, "RebalanceBatcher", "VaultRebalanceFailed"),
    (settle.SETTLEMENT_FAILED_TOPIC, "RebalanceBatcher", "SettlementFailed"),
    (settle.QUEUE_FILL_FAILED_TOPIC, "RebalanceBatcher", "QueueFillFailed"),
    (demo.REBALANCED_TOPIC, "OptionVault", "Rebalanced"),
]


@pytest.mark.parametrize(("topic", "contract", "name"), TOPICS)
def test_a_hand_written_topic_is_the_compiled_event(topic: bytes, contract: str, name: str) -> None:
    assert bytes(topic) == _abi_hash(contract, "event", name)


def test_the_demos_pool_swap_topic_is_the_uniswap_pools_event() -> None:
    from keeper.devnet.uniswap import load_hardhat_artifact

    (swap,) = [
        abi_to_signature(i)
        for i in load_hardhat_artifact("UniswapV3Pool").abi
        if i.get("type") == "event" and i.get("name") == "Swap"
    ]
    assert bytes(demo.POOL_SWAP_TOPIC) == bytes(keccak(text=swap))


#: The signatures ``keeper/chain/vaults.py`` calls by hand, with the contract that answers them.
SIGNATURES = [
    *((sig, "OptionVault") for sig in vaults._VAULT_PROBES),
    ("oracle()", "OptionVault"),
    ("sequencerFeed()", "OptionVault"),
    ("vaultCount()", "VaultFactory"),
    ("vaults(uint256,uint256)", "VaultFactory"),
    ("maxBatch()", "RebalanceBatcher"),
    ("isKeeper(address)", "RebalanceBatcher"),
]


@pytest.mark.parametrize(("signature", "contract"), SIGNATURES)
def test_a_hand_written_signature_is_a_compiled_function(signature: str, contract: str) -> None:
    functions = {
        abi_to_signature(i) for i in load_artifact(contract).abi if i.get("type") == "function"
    }
    assert signature in functions
