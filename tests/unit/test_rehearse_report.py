"""``keeper rehearse``'s outcomes of a direct transaction and its report of the vault roles."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import TransactionNotFound

from keeper.app.rehearse import (
    ForkCost,
    RehearsalReport,
    RehearsedVault,
    VaultRole,
    fork_cost,
    rehearse,
    tx_outcomes,
    vault_outcomes,
)
from keeper.commands.rehearse import format_report
from keeper.errors import ChainError, ConfigError
from keeper.execution.journal import TxStatus
from keeper.settings import Settings
from keeper.units import DELTA_COLUMNS_UNIT

VAULT = to_checksum_address("0x" + "11" * 20)
OTHER = to_checksum_address("0x" + "22" * 20)
BATCHER = to_checksum_address("0x" + "33" * 20)
ADMIN = to_checksum_address("0x" + "44" * 20)
KEEPER = to_checksum_address("0x" + "55" * 20)


def _receipt(status: int, logs: list[dict[str, Any]] | None = None) -> Any:
    return {"status": status, "logs": logs or [], "to": VAULT}


def test_a_reverted_direct_transaction_fails_its_vault_by_the_receipt_status() -> None:
    [outcome] = vault_outcomes(Web3(), VAULT, _receipt(0))
    assert outcome == RehearsedVault(VAULT, False, None, None, "reverted", "receipt")


def test_a_mined_direct_transaction_without_the_event_is_not_counted_as_rebalanced() -> None:
    [outcome] = vault_outcomes(Web3(), VAULT, _receipt(1))
    assert not outcome.ok
    assert outcome.reason == "mined without a Rebalanced event"


def _receipts(monkeypatch: pytest.MonkeyPatch, missing: int) -> tuple[Web3, list[str]]:
    """A node that has no receipt for the first ``missing`` reads (one behind the block that
    mined it), then a reverted direct transaction's; and the reads asked."""
    import keeper.app.rehearse as rehearse_module

    w3, asked = Web3(), []

    def get_transaction_receipt(tx_hash: str) -> Any:
        asked.append(tx_hash)
        if len(asked) <= missing:
            raise TransactionNotFound(f"Transaction with hash: {tx_hash!r} not found.")
        return _receipt(0)

    monkeypatch.setattr(w3.eth, "get_transaction_receipt", get_transaction_receipt)
    monkeypatch.setattr(rehearse_module.time, "sleep", lambda _: None)
    return w3, asked


def test_a_receipt_the_node_has_not_yet_is_read_again_within_the_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w3, asked = _receipts(monkeypatch, missing=2)
    to, [outcome] = tx_outcomes(w3, BATCHER, "0xab", attempts=3)
    assert (to, outcome.reason, asked) == (VAULT, "reverted", ["0xab"] * 3)


def test_a_receipt_the_node_never_has_is_one_chain_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It was web3's TransactionNotFound, out of ``keeper rehearse`` as a traceback."""
    w3, asked = _receipts(monkeypatch, missing=2)
    with pytest.raises(ChainError) as info:
        tx_outcomes(w3, BATCHER, "0xab", attempts=2)
    assert str(info.value) == (
        "cannot read the receipt of the rehearsal's transaction 0xab on the fork: the node has "
        "none, after 2 reads (the cycle saw it mined)"
    )
    assert asked == ["0xab"] * 2


def _mined_on_fork(monkeypatch: pytest.MonkeyPatch) -> tuple[Web3, Any, list[str]]:
    """A fork on which the cycle mined its hedge (``0xab``, a direct call) and a settlement
    (``0xcd``, reverted), both journaled; and the receipt reads asked of it."""
    w3, asked = Web3(), []
    gas = {"0xab": 100_000, "0xcd": 50_000}

    def get_transaction_receipt(tx_hash: str) -> Any:
        asked.append(tx_hash)
        receipt = _receipt(1 if tx_hash == "0xab" else 0)
        return receipt | {
            "gasUsed": gas[tx_hash],
            "effectiveGasPrice": 2,
            "blockNumber": 7,
            "l1Fee": hex(gas[tx_hash] // 10),
        }

    monkeypatch.setattr(w3.eth, "get_transaction_receipt", get_transaction_receipt)
    records = [
        SimpleNamespace(nonce=n, tx_hash=h, status=s, effective_gas_price=None)
        for n, (h, s) in enumerate((("0xab", TxStatus.MINED), ("0xcd", TxStatus.REVERTED)))
    ]
    journal = SimpleNamespace(mined_since=lambda account, block: records)
    keeper = SimpleNamespace(sender=SimpleNamespace(address=KEEPER, journal=journal))
    return w3, keeper, asked


def test_the_cost_reuses_the_hedges_receipt_the_outcomes_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``fork_cost`` read the hedge's receipt again after ``tx_outcomes`` had read it: each
    receipt is now read once, and the figures are those of reading it again."""
    w3, keeper, asked = _mined_on_fork(monkeypatch)
    receipts: dict[str, Any] = {}
    to, [outcome] = tx_outcomes(w3, BATCHER, "0xab", attempts=3, receipts=receipts)
    assert (to, outcome.reason) == (VAULT, "mined without a Rebalanced event")
    cost = fork_cost(w3, keeper, 3, receipts=receipts)
    assert asked == ["0xab", "0xcd"]
    assert cost == ForkCost(["0xab", "0xcd"], 150_000, 300_000, 15_000)
    assert fork_cost(w3, keeper, 3) == cost  # read afresh, the same figures
    assert asked == ["0xab", "0xcd", "0xab", "0xcd"]


def _report(tx_to: str | None, roles: list[VaultRole]) -> RehearsalReport:
    """A rehearsal that rebalanced ``VAULT`` in a transaction to ``tx_to``."""
    return _idle_report(
        vaults=2,
        planned=[VAULT],
        simulated=[VAULT],
        outcomes=[RehearsedVault(VAULT, True, 5, 0, None, "Rebalanced")],
        tx_hash="0xab",
        tx_status="mined",
        tx_to=tx_to,
        gas_used=1,
        l2_fee_wei=1,
        l1_fee_wei=1,
        vault_roles=roles,
    )


def test_the_report_says_per_vault_whether_the_account_holds_its_keeper_role() -> None:
    roles = [
        VaultRole(VAULT, True, ADMIN, None),
        VaultRole(OTHER, False, None, "no current admin found: the batcher path"),
    ]
    report = _report(VAULT, roles)
    assert report.direct
    assert report.to_dict()["direct"] is True
    assert report.to_dict()["vault_roles"][1] == {
        "vault": OTHER,
        "held": False,
        "admin": None,
        "note": "no current admin found: the batcher path",
    }
    text = format_report(report)
    assert f"vault {VAULT}: keeper role granted by impersonating {ADMIN}" in text
    assert f"vault {OTHER}: keeper role NOT held (no current admin found: the batcher path)" in text
    assert f"sent by {KEEPER} to vault {VAULT} (direct) on the local fork" in text


def test_a_batch_is_reported_as_sent_to_the_batcher() -> None:
    report = _report(BATCHER, [VaultRole(VAULT, True, None, None)])
    assert not report.direct
    text = format_report(report)
    assert f"vault {VAULT}: keeper role already held" in text
    assert f"sent by {KEEPER} to batcher {BATCHER} on the local fork" in text


def test_a_block_past_the_forks_head_is_refused_before_anvil_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keeper.app.rehearse as rehearse_module

    class Eth:
        block_number = 100

    class Node:
        def __init__(self, **_: Any) -> None:
            raise AssertionError("anvil must not start for a block past the head")

    monkeypatch.setattr(rehearse_module, "connect", lambda *a, **k: type("W3", (), {"eth": Eth})())
    monkeypatch.setattr(rehearse_module, "Anvil", Node)
    settings = Settings(_env_file=None, batcher=BATCHER, lens=OTHER)
    with pytest.raises(ConfigError) as info:
        rehearse(settings, "https://rpc.example/v3/SECRET", block=99_999)
    assert str(info.value) == (
        "--block 99999 is past the head of https://rpc.example (block 100): no fork was started"
    )


@pytest.mark.parametrize(
    ("update", "error"),
    [
        ({"lens": None}, "no VaultLens address: set KEEPER_LENS, or 'lens' in the addresses file"),
        ({"policy": "band:width=wide"}, "policy 'band:width=wide': width='wide' is not a number"),
    ],
    ids=["no-lens", "bad-policy"],
)
def test_a_missing_lens_or_a_bad_policy_is_refused_before_anvil_starts(
    monkeypatch: pytest.MonkeyPatch, update: dict[str, Any], error: str
) -> None:
    import keeper.app.rehearse as rehearse_module

    class Node:
        def __init__(self, **_: Any) -> None:
            raise AssertionError("anvil must not start for settings that cannot run a cycle")

    def unreachable(*_: Any, **__: Any) -> Any:
        raise AssertionError("the fork URL must not be dialled either")

    monkeypatch.setattr(rehearse_module, "connect", unreachable)
    monkeypatch.setattr(rehearse_module, "Anvil", Node)
    settings = Settings(_env_file=None, batcher=BATCHER, lens=OTHER).model_copy(update=update)
    with pytest.raises(ConfigError) as info:
        rehearse(settings, "https://rpc.example/v3/SECRET")
    assert str(info.value) == error


def test_the_forks_connection_takes_keeper_rpc_retries_attempts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fork's reads went with the provider's default of 3 attempts, whatever
    ``KEEPER_RPC_RETRIES`` said (``keeper run`` passes it to ``connect``)."""
    import keeper.app.rehearse as rehearse_module

    class Node:
        url = "http://127.0.0.1:1"
        stopped = False

        def stop(self) -> None:
            self.stopped = True

    node, asked = Node(), []

    def connect(url: str, **kw: Any) -> Any:
        asked.append((url, kw.get("attempts")))
        raise ChainError("stop here")

    monkeypatch.setattr(rehearse_module, "_check_reachable", lambda *a: None)
    monkeypatch.setattr(rehearse_module, "_start_fork", lambda *a: node)
    monkeypatch.setattr(rehearse_module, "connect", connect)
    settings = Settings(_env_file=None, batcher=BATCHER, lens=OTHER, rpc_retries=7)
    with pytest.raises(ChainError, match="stop here"):
        rehearse(settings, "https://rpc.example/v3/SECRET")
    assert asked == [(Node.url, 7)]
    assert node.stopped


def _idle_report(**kw: Any) -> RehearsalReport:
    """A rehearsal that sent nothing."""
    base: dict[str, Any] = {
        "fork_url": "http://x",
        "fork_block": 1,
        "chain_id": 31337,
        "keeper": KEEPER,
        "admin": ADMIN,
        "batcher": BATCHER,
        "vaults": 1,
        "planned": [],
        "simulated": [],
        "dropped": {},
        "skipped": {},
        "outcomes": [],
        "tx_hash": None,
        "tx_status": None,
        "tx_to": None,
        "gas_used": 0,
        "l2_fee_wei": 0,
        "l1_fee_wei": 0,
    }
    base.update(kw)
    return RehearsalReport(**base)


def _decision(act: bool, reason: str) -> dict[str, Any]:
    wad = 10**18
    return {
        "vault": VAULT,
        "act": act,
        "reason": reason,
        "deviation": -wad,
        "band": wad // 2,
        "trade": wad if act else 0,
        "benefit_usd": 1.0,
        "cost_usd": 0.1,
        "post_deviation": 0,
    }


def test_a_blocked_vault_is_named_with_its_blocker_not_reported_as_needing_nothing() -> None:
    # A vault 2x outside its band just after a rebalance: the policy wants it, the vault's own
    # minInterval refuses it. rehearse printed "skip  -" and "no rebalance was needed".
    blocker = "OptionVaultTooSoon(lastRebalance=100, minInterval=60)"
    report = _idle_report(
        decisions=[_decision(False, "contract trigger not ready")], blocked={VAULT: blocker}
    )
    text = format_report(report)
    assert "BLOCKED" in text
    assert blocker in text
    assert "no rebalance was needed" not in text
    assert "1 vault the policy wants refuses a rebalance now" in text
    assert report.to_dict()["blocked"] == {VAULT: blocker}


def test_a_skipped_decision_shows_its_reason() -> None:
    text = format_report(_idle_report(decisions=[_decision(False, "benefit below cost")]))
    assert "benefit below cost" in text
    assert "on the fork: no rebalance was needed, so no batch was sent" in text


def test_a_rehearsal_that_judged_no_vault_says_so_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every vault skipped by a stale oracle: `keeper check` exits 1 on that state, and rehearse
    # said "no rebalance was needed" with exit 0.
    from keeper.cli import main

    why = "oracle answer is 7376s old, heartbeat 3600s"
    report = _idle_report(skipped={VAULT: why})
    monkeypatch.setattr("keeper.app.rehearse.rehearse", lambda *a, **k: report)
    monkeypatch.delenv("KEEPER_PRIVATE_KEY", raising=False)
    args = ["rehearse", "--fork-url", "http://127.0.0.1:9", "--env-file", "/dev/null"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "no rebalance was needed" not in captured.out
    assert f"no vault could be judged: every vault was skipped (1 of 1): {why}" in captured.out
    [line] = captured.err.strip().splitlines()
    assert why in line


@pytest.mark.parametrize(
    "outcome",
    [
        RehearsedVault(VAULT, False, None, None, "reverted", "receipt"),
        RehearsedVault(
            VAULT, False, None, None, "OptionVaultOracleGap(...)", "VaultRebalanceFailed"
        ),
    ],
    ids=["direct-reverted", "failed-inside-the-batch"],
)
def test_a_rehearsal_whose_sent_vault_failed_on_the_fork_exits_1(
    outcome: RehearsedVault, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # On a fork nothing moves between the simulation and the mining: a vault that still fails
    # there is what a rehearsal is for. It printed the failure and exited 0, so a script or CI
    # gate running `keeper rehearse` passed.
    from keeper.cli import main

    report = _report(VAULT, [VaultRole(VAULT, True, None, None)])
    report.outcomes = [outcome, RehearsedVault(OTHER, True, 5, 0, None, "Rebalanced")]
    monkeypatch.setattr("keeper.app.rehearse.rehearse", lambda *a, **k: report)
    monkeypatch.delenv("KEEPER_PRIVATE_KEY", raising=False)
    args = ["rehearse", "--fork-url", "http://127.0.0.1:9", "--env-file", "/dev/null"]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert VAULT in captured.out  # the report is printed first
    [line] = captured.err.strip().splitlines()
    assert f"1 of 2 vaults sent failed on the fork: {VAULT}: {outcome.reason}" in line


def test_the_table_says_what_its_columns_count() -> None:
    report = _idle_report(decisions=[_decision(True, "band exit")])
    lines = format_report(report).splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith(VAULT))
    assert lines[row + 1] == DELTA_COLUMNS_UNIT
    assert "net delta" in DELTA_COLUMNS_UNIT
    assert "underlying" in DELTA_COLUMNS_UNIT


def test_the_report_says_which_queues_it_filled_on_the_fork_and_none_in_so_many_words() -> None:
    # The rehearsal fills the queues its cycle finds (as `keeper run`); its report said nothing
    # of them, so "no fill" and "filled" read alike.
    filled = _idle_report(queue_fills=[VAULT, OTHER])
    assert (
        f"queue fills on the fork: filled the redemption queues of {VAULT}, {OTHER}"
        in format_report(filled)
    )
    assert filled.to_dict()["queue_fills"] == [VAULT, OTHER]
    idle = _idle_report()
    assert "queue fills on the fork: none" in format_report(idle).splitlines()
    assert idle.to_dict()["queue_fills"] == []


def test_the_report_lists_the_series_settled_on_the_fork_as_check_lists_them() -> None:
    """The cycle settled an expired series on the fork (``CycleResult.settlements``) and the
    report said nothing of it, neither its table nor ``--json``; ``keeper check`` lists them.
    Now a ``settlements on the fork:`` line (``none`` when there are none), each series under
    it in check's words, and a ``settlements`` key, check's (one object per series)."""
    from keeper.app.settle import Settlement
    from tests.unit.test_app_cycle import dummy_result

    settled = Settlement(VAULT, 3, 12, "settled", tx_hash="0xcd")
    waits = Settlement(OTHER, 4, None, "waiting", "no oracle round at or after its expiry yet")
    result = dataclasses.replace(dummy_result(), settlements=(settled, waits))
    report = RehearsalReport.of(result, [], **_WHERE)
    assert report.to_dict()["settlements"] == [dataclasses.asdict(s) for s in (settled, waits)]
    lines = format_report(report).splitlines()
    at = lines.index("settlements on the fork: 2 expired series")
    assert lines[at + 1 : at + 3] == [
        f"  series 3 of {VAULT}: settled at round 12 in tx 0xcd",
        f"  series 4 of {OTHER}: waiting: no oracle round at or after its expiry yet",
    ]
    # after the rebalance's line, before the queue fills' (the order of check's table)
    assert lines[at - 1].startswith("on the fork: ")
    assert lines[at + 3] == "queue fills on the fork: none"
    idle = RehearsalReport.of(dummy_result(), [], **_WHERE)
    assert idle.to_dict()["settlements"] == []
    assert "settlements on the fork: none" in format_report(idle).splitlines()


#: Where a rehearsal ran, for :meth:`RehearsalReport.of`.
_WHERE: dict[str, Any] = {
    "fork_url": "http://x",
    "fork_block": 1,
    "chain_id": 31337,
    "keeper": KEEPER,
    "admin": ADMIN,
    "batcher": BATCHER,
    "tx_to": None,
}
