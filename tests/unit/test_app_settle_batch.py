"""Several expired series settled in one ``settleBatch`` transaction, with stand-in contracts.

When many series expire together (a common expiry across vaults) the keeper used to settle them
one transaction a series, each waiting for its receipt, and sent no hedge until the last one was
mined: N expiring vaults held every hedge for N blocks. Now they go through the batcher, up to
``SETTLE_BATCH_MAX`` a transaction, each series booked by the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from web3.exceptions import ContractLogicError

from keeper.app import settle as settle_module
from keeper.app.collaborators import Keeper
from keeper.app.settle import (
    SETTLEMENT_FAILED_TOPIC,
    book_refused,
    book_resumed,
    settle_expired,
)
from keeper.execution.journal import TxStatus
from keeper.execution.sender import SendOutcome
from keeper.execution.simulate import SETTLE_BATCH_SELECTOR, BatchCodec
from keeper.units import Wei
from tests.unit.test_app_settle import (
    ALREADY_SETTLED,
    FEED,
    HINT,
    NOW,
    SETTLE,
    VAULT,
    FakeEth,
    FakeVault,
    NoReceiptSender,
    SettleSender,
    outcomes,
    settle_keeper,
)

BATCHER = "0x" + "ba" * 20
OTHER = "0x" + "b2" * 20
UNAUTHORIZED = bytes.fromhex("e2517d3f")  # AccessControlUnauthorizedAccount(address,bytes32)
BAD_SIZE = keccak(text="RebalanceBatcherBadBatchSize(uint256,uint256)")[:4]
NOT_EXPIRED = keccak(text="OptionVaultNotExpired(uint256,uint256)")[:4]


def batch_data(entries: list[tuple[str, int]]) -> bytes:
    return SETTLE_BATCH_SELECTOR + abi_encode(
        ["address[]", "uint256[]", "uint80[]"],
        [[v for v, _ in entries], [i for _, i in entries], [HINT] * len(entries)],
    )


def entries_of(data: bytes) -> list[tuple[str, int]]:
    vaults, ids, _ = abi_decode(["address[]", "uint256[]", "uint80[]"], data[4:])
    return [(v.lower(), int(i)) for v, i in zip(vaults, ids, strict=True)]


class _BatchCall:
    def __init__(self, batcher: FakeBatcher, data: bytes) -> None:
        self.b, self.data = batcher, data

    def call(self, tx: dict[str, Any] | None = None) -> Any:
        if self.b.refuse:
            raise ContractLogicError("execution reverted", data="0x" + UNAUTHORIZED.hex())
        size = len(entries_of(self.data))
        if size > self.b.max_batch:
            args = abi_encode(["uint256", "uint256"], [size, self.b.max_batch])
            raise ContractLogicError("execution reverted", data="0x" + (BAD_SIZE + args).hex())
        self.b.simulated.append(entries_of(self.data))
        for vault, sid in self.b.settled_meanwhile:
            self.b.vault(vault).rows[sid][6] = True
        rows = []
        for vault, sid in entries_of(self.data):
            if self.b.vault(vault).settled(sid):
                reason = ALREADY_SETTLED + abi_encode(["uint256"], [sid])
                rows.append((vault, sid, False, reason))
            elif (vault, sid) in self.b.behind:
                reason = NOT_EXPIRED + abi_encode(["uint256", "uint256"], [sid, NOW + 60])
                rows.append((vault, sid, False, reason))
            else:
                rows.append((vault, sid, True, b""))
        return rows

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        return 200_000

    def _encode_transaction_data(self) -> str:
        return "0x" + self.data.hex()


@dataclass
class FakeBatcher:
    """The batcher's ``settleBatch``: simulated against the fake vaults' rows."""

    vaults: dict[str, FakeVault]
    address: str = BATCHER
    refuse: bool = False  # the whole call reverts (no keeper role, no settleBatch)
    #: ``maxBatch()``: a longer batch reverts whole (``RebalanceBatcherBadBatchSize``).
    max_batch: int = 100
    #: Settled by someone else between the step's read and its simulation.
    settled_meanwhile: list[tuple[str, int]] = field(default_factory=list)
    #: Simulated on a node behind the cycle's block, where these have not expired yet.
    behind: set[tuple[str, int]] = field(default_factory=set)
    simulated: list[list[tuple[str, int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.functions = self

    def vault(self, address: str) -> FakeVault:
        return self.vaults[address.lower()]

    def settleBatch(self, vaults: list[str], ids: list[int], hints: list[int]) -> _BatchCall:  # noqa: N802
        data = SETTLE_BATCH_SELECTOR + abi_encode(
            ["address[]", "uint256[]", "uint80[]"], [vaults, ids, hints]
        )
        return _BatchCall(self, data)


@dataclass
class BatchSender(SettleSender):
    """Mines a ``settleBatch`` as the batcher would: each series settles unless someone settled
    it first (``on_mine`` runs before: another settler in the same block), which the receipt's
    ``SettlementFailed`` names. A vault's own ``settle`` is mined as :class:`SettleSender`."""

    vaults: dict[str, FakeVault] = field(default_factory=dict)
    with_receipt: bool = True
    #: The whole batch reverts at mining (it settles nothing).
    batch_reverts: bool = False
    #: (vault, series) someone else settles in the batch's block, ahead of it.
    beaten: tuple[str, int] | None = None

    def wait(self, nonce: int, timeout_s: float | None = None) -> SendOutcome:
        _to, data = self.sent[nonce]
        if data[:4] != SETTLE_BATCH_SELECTOR:
            return super().wait(nonce, timeout_s)
        if self.on_mine is not None:
            self.on_mine()
        if self.beaten is not None:
            vault, sid = self.beaten
            self.vaults[vault.lower()].rows[sid][6] = True
        if self.batch_reverts:
            tx_hash = f"0x{nonce + 1:064x}"
            self.journal.mark(tx_hash, TxStatus.REVERTED)
            return SendOutcome(nonce, tx_hash, TxStatus.REVERTED, 101, 90_000, Wei(7), 0)
        logs = []
        for vault, sid in entries_of(data):
            v = self.vaults[vault]
            if v.settled(sid):
                reason = ALREADY_SETTLED + abi_encode(["uint256"], [sid])
                logs.append(failed_log(vault, sid, reason))
            v.rows[sid][6] = True
        tx_hash = f"0x{nonce + 1:064x}"
        self.journal.mark(tx_hash, TxStatus.MINED)
        receipt = {"logs": logs} if self.with_receipt else None
        return SendOutcome(nonce, tx_hash, TxStatus.MINED, 101, 90_000, Wei(7), 0, receipt=receipt)


def failed_log(vault: str, sid: int, reason: bytes) -> dict[str, Any]:
    return {
        "address": BATCHER,
        "topics": [
            SETTLEMENT_FAILED_TOPIC,
            bytes(12) + bytes.fromhex(vault[2:]),
            sid.to_bytes(32, "big"),
        ],
        "data": abi_encode(["bytes"], [reason]),
    }


def batch_keeper(
    monkeypatch: pytest.MonkeyPatch,
    vaults: list[FakeVault],
    sender: SettleSender | None,
    max_batch: int = 100,
) -> tuple[Keeper, FakeBatcher]:
    k = settle_keeper(monkeypatch, vaults[0], sender)
    by = {v.address.lower(): v for v in vaults}
    batcher = FakeBatcher(by, max_batch=max_batch)
    # What the start-up check read (``check_batcher``), as ``build_keeper`` hands it on.
    k.codec = BatchCodec()
    k.codec.remember_max_batch(BATCHER, max_batch)
    eth: FakeEth = k.w3.eth  # type: ignore[assignment]
    eth.others.update({a: v for a, v in by.items() if a != vaults[0].address.lower()})
    eth.others[BATCHER] = batcher
    if isinstance(sender, BatchSender):
        sender.vaults = by
    k.batcher = BATCHER
    return k, batcher


def two_vaults() -> list[FakeVault]:
    first, second = FakeVault(), FakeVault(address=OTHER)
    first.add_expired(3)
    first.add_expired(4)
    second.add_expired(5)
    return [first, second]


def test_series_of_several_vaults_are_settled_in_one_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vaults, sender = two_vaults(), BatchSender()
    k, _ = batch_keeper(monkeypatch, vaults, sender)
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [(BATCHER, batch_data([(VAULT, 3), (VAULT, 4), (OTHER, 5)]))]
    assert [(s.vault.lower(), s.series_id, s.outcome) for s in step.settlements] == [
        (VAULT, 3, "settled"),
        (VAULT, 4, "settled"),
        (OTHER, 5, "settled"),
    ]
    assert {s.tx_hash for s in step.settlements} == {f"0x{1:064x}"}
    assert step.pending is None
    assert outcomes(k) == {"settled": 3}
    assert k.metrics.value("keeper_expired_unsettled") == 0
    # one journal intent naming both vaults
    [intent] = {sender.journal.tx(f"0x{1:064x}").intent_id}
    assert [v.lower() for v in sender.journal.intent(intent).vaults] == [VAULT, OTHER]


def test_a_series_settled_before_the_simulation_is_left_out_of_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vaults, sender = two_vaults(), BatchSender()
    k, batcher = batch_keeper(monkeypatch, vaults, sender)
    batcher.settled_meanwhile = [(VAULT, 4)]  # the market settled it after our read
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [(BATCHER, batch_data([(VAULT, 3), (OTHER, 5)]))]
    assert {s.series_id: s.outcome for s in step.settlements} == {
        3: "settled",
        4: "settled_by_other",
        5: "settled",
    }
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]


def test_a_series_a_node_behind_calls_not_expired_waits_without_an_alert(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Chaos ``harsh`` (a failover 3 blocks behind), seed 61: three false ``settlement`` alerts,
    "simulation reverted: OptionVaultNotExpired". The step settles only series expired at the
    cycle's block; a simulation that answers "not expired" ran on a node behind that block. The
    series waits for the next cycle, with no alert; the rest of the batch settles."""
    vaults, sender = two_vaults(), BatchSender()
    k, batcher = batch_keeper(monkeypatch, vaults, sender)
    batcher.behind = {(VAULT, 4)}
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [(BATCHER, batch_data([(VAULT, 3), (OTHER, 5)]))]
    outcome = {s.series_id: s.outcome for s in step.settlements}
    assert outcome == {3: "settled", 4: "waiting", 5: "settled"}
    [waiting] = [s for s in step.settlements if s.series_id == 4]
    assert waiting.reason.startswith("simulated on a node behind the cycle's block?")
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]
    # The next cycle (the node caught up), the lone series left settles by its own transaction.
    step = settle_expired(k, [VAULT, OTHER], 101, NOW + 2)
    assert [(s.series_id, s.outcome) for s in step.settlements] == [(4, "settled")]
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]


def test_a_lone_series_left_goes_to_its_vault_not_the_batcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vaults, sender = two_vaults(), BatchSender()
    k, batcher = batch_keeper(monkeypatch, vaults, sender)
    batcher.settled_meanwhile = [(VAULT, 3), (VAULT, 4)]
    settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [(OTHER, SETTLE + abi_encode(["uint256", "uint80"], [5, HINT]))]
    assert outcomes(k) == {"settled_by_other": 2, "settled": 1}


@pytest.mark.parametrize("with_receipt", [True, False])
def test_a_series_beaten_inside_the_mined_batch_is_booked_by_its_receipt(
    monkeypatch: pytest.MonkeyPatch, with_receipt: bool
) -> None:
    """Someone else's settle landed first in the block: the batch did not revert, the batcher
    named that series in ``SettlementFailed`` (read from the node when the outcome carries no
    receipt), and the keeper books it ``settled_by_other``, the others ``settled``."""
    vaults = two_vaults()
    sender = BatchSender(with_receipt=with_receipt, beaten=(OTHER, 5))
    k, _ = batch_keeper(monkeypatch, vaults, sender)
    eth: Any = k.w3.eth
    receipts: list[str] = []

    def get_receipt(tx_hash: str) -> dict[str, Any]:
        receipts.append(tx_hash)
        return {"logs": [failed_log(OTHER, 5, ALREADY_SETTLED + abi_encode(["uint256"], [5]))]}

    eth.get_transaction_receipt = get_receipt
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert {s.series_id: s.outcome for s in step.settlements} == {
        3: "settled",
        4: "settled",
        5: "settled_by_other",
    }
    assert receipts == ([] if with_receipt else [f"0x{1:064x}"])
    assert "settlement" not in [a["kind"] for a in k.alerter.sent]


def test_a_batch_that_does_not_simulate_settles_one_series_a_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batcher without ``settleBatch`` or a signer without its keeper role: the whole call
    reverts, and the step goes on as before the batcher could settle."""
    vaults, sender = two_vaults(), BatchSender()
    k, batcher = batch_keeper(monkeypatch, vaults, sender)
    batcher.refuse = True
    settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert [to.lower() for to, _ in sender.sent] == [VAULT, VAULT, OTHER]
    assert outcomes(k) == {"settled": 3}


def test_more_series_than_a_batch_takes_go_in_several(monkeypatch: pytest.MonkeyPatch) -> None:
    vaults, sender = two_vaults(), BatchSender()
    vaults[1].add_expired(6)
    monkeypatch.setattr(settle_module, "SETTLE_BATCH_MAX", 2)
    k, _ = batch_keeper(monkeypatch, vaults, sender)
    settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [
        (BATCHER, batch_data([(VAULT, 3), (VAULT, 4)])),
        (BATCHER, batch_data([(OTHER, 5), (OTHER, 6)])),
    ]
    assert outcomes(k) == {"settled": 4}


def test_a_batcher_taking_fewer_series_than_a_batch_gets_batches_of_its_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batcher deployed with a ``maxBatch`` below ``SETTLE_BATCH_MAX`` refuses a longer
    ``settleBatch`` whole; the step sized its batches by ``SETTLE_BATCH_MAX`` alone, so it fell
    back to one series a transaction, every series its own block."""
    vaults, sender = two_vaults(), BatchSender()
    vaults[1].add_expired(6)
    k, _ = batch_keeper(monkeypatch, vaults, sender, max_batch=2)
    settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [
        (BATCHER, batch_data([(VAULT, 3), (VAULT, 4)])),
        (BATCHER, batch_data([(OTHER, 5), (OTHER, 6)])),
    ]
    assert outcomes(k) == {"settled": 4}


def test_a_batch_without_a_receipt_holds_every_later_send(monkeypatch: pytest.MonkeyPatch) -> None:
    vaults, sender = two_vaults(), NoReceiptSender()
    vaults[1].add_expired(6)
    monkeypatch.setattr(settle_module, "SETTLE_BATCH_MAX", 2)
    k, _ = batch_keeper(monkeypatch, vaults, sender)
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sender.sent == [(BATCHER, batch_data([(VAULT, 3), (VAULT, 4)]))]
    done = {s.series_id: s for s in step.settlements}
    assert done[3].outcome == done[4].outcome == "waiting"
    assert done[3].pending
    assert done[3].round_id == HINT
    assert (done[5].outcome, done[5].round_id) == ("waiting", None)
    assert step.pending is not None
    assert "pending" in step.pending
    assert outcomes(k) == {"waiting": 4}


def test_a_dry_run_simulates_the_batch_and_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    vaults = two_vaults()
    k, batcher = batch_keeper(monkeypatch, vaults, None)
    k.simulate_from = "0x" + "5e" * 20  # KEEPER_SIMULATE_FROM, or the signer (`keeper check`)
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert batcher.simulated == [[(VAULT, 3), (VAULT, 4), (OTHER, 5)]]
    assert {s.outcome for s in step.settlements} == {"simulated"}
    assert not vaults[0].settled(3)


def test_a_dry_run_with_no_one_to_simulate_as_does_not_call_the_batcher_from_address_zero(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`keeper check` with no signer and no KEEPER_SIMULATE_FROM called settleBatch from address
    0, which the batcher refuses (RebalanceBatcherUnauthorized), and warned that the batch "does
    not simulate": a fault `keeper run` would not have. Each series is simulated on its own
    (settle() is anyone's), and one line says why the batch was not."""
    vaults = two_vaults()
    k, batcher = batch_keeper(monkeypatch, vaults, None)
    batcher.refuse = True  # as the real batcher refuses a caller without its keeper role
    assert k.sender is None
    assert k.simulate_from is None
    with caplog.at_level("INFO", logger="keeper.app.settle"):
        step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert batcher.simulated == []
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert [(s.vault.lower(), s.series_id, s.outcome) for s in step.settlements] == [
        (VAULT, 3, "simulated"),
        (VAULT, 4, "simulated"),
        (OTHER, 5, "simulated"),
    ]
    assert any("KEEPER_SIMULATE_FROM" in r.getMessage() for r in caplog.records)
    assert not vaults[0].settled(3)


def _resumed(status: TxStatus, receipt: Any = None, *, cancelled: bool = False) -> SendOutcome:
    return SendOutcome(
        4, "0x" + "77" * 32, status, 120, 90_000, Wei(7), 0, receipt=receipt, cancelled=cancelled
    )


def test_a_resumed_batch_is_booked_series_by_series_from_its_receipt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sent by an earlier cycle (or before a restart) and mined since: each series is counted as
    the in-cycle path counts it, and the vaults it freed are handed to the queue fills."""
    vaults = two_vaults()
    k, _ = batch_keeper(monkeypatch, vaults, None)
    data = batch_data([(VAULT, 3), (VAULT, 4), (OTHER, 5)])
    beaten = failed_log(OTHER, 5, ALREADY_SETTLED + abi_encode(["uint256"], [5]))
    broken = failed_log(VAULT, 4, bytes.fromhex("deadbeef"))
    receipt = {"logs": [beaten, broken]}
    freed = book_resumed(k, _resumed(TxStatus.MINED, receipt), BATCHER, data, [VAULT, OTHER])
    assert [v.lower() for v in freed] == [VAULT, OTHER]
    assert outcomes(k) == {"settled": 1, "settled_by_other": 1, "failed": 1}
    assert [a["kind"] for a in k.alerter.sent] == ["settlement"]
    assert k.metrics.value("keeper_gas_spent_wei_total") == 90_000 * 7


def test_a_resumed_batch_that_was_cancelled_reads_each_series_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vaults = two_vaults()
    vaults[0].rows[3][6] = True  # settled by someone else meanwhile; 4 and 5 still open
    k, _ = batch_keeper(monkeypatch, vaults, None)
    data = batch_data([(VAULT, 3), (VAULT, 4), (OTHER, 5)])
    done = _resumed(TxStatus.MINED, cancelled=True)
    freed = book_resumed(k, done, BATCHER, data, [VAULT, OTHER])
    assert [v.lower() for v in freed] == [VAULT]
    assert outcomes(k) == {"settled_by_other": 1, "failed": 2}
    assert vaults[0].reads == [120, 120]
    assert vaults[1].reads == [120]


def test_a_batch_the_node_refused_for_good_fails_each_of_its_series(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vaults = two_vaults()
    k, _ = batch_keeper(monkeypatch, vaults, None)
    data = batch_data([(VAULT, 3), (OTHER, 5)])
    assert book_refused(k, BATCHER, data, [VAULT, OTHER], "refused", "0x" + "77" * 32)
    assert outcomes(k) == {"failed": 2}
    messages = [a["message"] for a in k.alerter.sent]
    assert len(messages) == 2
    assert "series 3: refused" in messages[0]
    assert "series 5: refused" in messages[1]


def test_a_common_expiry_on_one_feed_is_searched_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The round hint of (feed, expiry) is the same for every series: one halving search over
    the feed's rounds a step, not one a series (and no re-read of each series' expiry)."""
    vaults, sender = two_vaults(), BatchSender()
    k, _ = batch_keeper(monkeypatch, vaults, sender)
    searched: list[tuple[str, int]] = []

    def expiry_round(w3: Any, feed: str, expiry: int, now: int, block: int) -> int:
        assert block == 100  # the cycle's block: the feed is read there
        searched.append((feed, expiry))
        return HINT

    monkeypatch.setattr("keeper.app.settle.expiry_round", expiry_round)
    vaults[1].rows[7] = [7, 0, 3000 * 10**8, 0, NOW - 60, 10**18, False, 0]  # a later expiry
    settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert sorted(searched) == [(FEED, NOW - 3600), (FEED, NOW - 60)]
    assert outcomes(k) == {"settled": 4}
    assert vaults[0].reads == []  # every expiry came with the open series


def test_a_batch_reverted_at_mining_settles_its_series_one_a_transaction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole ``settleBatch`` reverted (it settled nothing): each series is read again at
    the mined block, one the market settled meanwhile is ``settled_by_other``, and the others
    go to their vaults' own ``settle`` in the same cycle, each simulated first. They were booked
    ``failed`` and batched again the next cycle: a vault whose feed burns gas at mining (two of
    its series, each using the batcher's whole ``vaultGasLimit``) reverted every such batch with
    ``RebalanceBatcherInsufficientGas`` under the keeper's gas limit (estimate x 1.3 +
    ``vaultGasLimit``), so no other vault's series sharing its expiry was ever settled by the
    keeper, and every cycle burnt a batch's gas (helper-130's review). The reverted batch is
    alerted once; the fees of every transaction are booked."""
    vaults = two_vaults()
    sender = BatchSender(batch_reverts=True, beaten=(OTHER, 5))
    k, _ = batch_keeper(monkeypatch, vaults, sender)
    step = settle_expired(k, [VAULT, OTHER], 100, NOW)
    assert {s.series_id: s.outcome for s in step.settlements} == {
        3: "settled",
        4: "settled",
        5: "settled_by_other",
    }
    assert sender.sent == [
        (BATCHER, batch_data([(VAULT, 3), (VAULT, 4), (OTHER, 5)])),
        (VAULT, SETTLE + abi_encode(["uint256", "uint80"], [3, HINT])),
        (VAULT, SETTLE + abi_encode(["uint256", "uint80"], [4, HINT])),
    ]
    assert vaults[0].reads == [101, 101]
    assert vaults[1].reads == [101]
    [alert] = k.alerter.sent
    assert alert["kind"] == "settlement"
    assert f"0x{1:064x}" in alert["message"]
    assert k.metrics.value("keeper_gas_spent_wei_total") == 90_000 * 7 + 2 * 30_000 * 7
