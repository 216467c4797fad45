"""``keeper vault`` under faults: a retry after a timeout, Ctrl-C, a node behind, queue misuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keeper.app.depositor import signer_file
from keeper.chain import connection
from keeper.devnet.tx import transact
from tests.integration import test_vault_cli as vault_cli
from tests.integration.test_vault_cli import USDC, Env, _cli

pytestmark = pytest.mark.integration

# The devnet stack of test_vault_cli.py (one per module), each test's changes rolled back.
built, env, e = vault_cli.built, vault_cli.env, vault_cli.e


def _rpc(e: Env, method: str, params: list[Any]) -> Any:
    answer = e.w3.provider.make_request(method, params)  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer.get("result")


def test_the_report_is_read_at_the_block_of_the_action(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A load-balanced RPC: the receipt comes from a node at the head, `latest` reads from one a
    block behind. Before, the report's share balance was the one from before the deposit (0),
    printed as its result; now the balances are read at the block of the action's last
    transaction."""
    real_post = connection._Transport.post
    #: The block of each transaction mined, by hash: a read slower than the hedge delay is
    #: answered twice, and a count of answers took the approve for both transactions.
    mined: dict[str, int] = {}

    def lagging(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        method = request.get("method") if isinstance(request, dict) else None
        if method == "eth_getTransactionReceipt":
            answer = real_post(self, payload, timeout_s)  # type: ignore[arg-type]
            if answer.get("result"):
                mined[request["params"][0]] = int(answer["result"]["blockNumber"], 16)
            return answer
        if method == "eth_call" and len(mined) == 2 and request["params"][1] == "latest":
            request["params"][1] = hex(max(mined.values()) - 1)  # the node behind answers
            payload = json.dumps(request).encode()
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    monkeypatch.setattr(connection._Transport, "post", lagging)
    assert _cli(e, "deposit", "--amount", "100", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    monkeypatch.undo()
    held = e.vault.functions.balanceOf(e.depositor.address).call()
    assert report["share_balance"] == held > 0, "the report's share balance is the old one"
    assert report["asset_balance"] == 4_900 * USDC


def test_request_redeem_of_shares_the_vault_can_pay_now_is_refused(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """The vault can pay every share at once (maxRedeem covers them). Before, request-redeem
    locked them in the uncancellable queue until someone called fill, carrying the vault's risk;
    now it is refused in one line pointing to `keeper vault redeem`, nothing sent."""
    v, me = e.vault, e.depositor.address
    assert _cli(e, "deposit", "--amount", "100") == 0
    capsys.readouterr()
    shares = v.functions.balanceOf(me).call()
    assert v.functions.maxRedeem(me).call() == shares  # instant exit possible
    nonce = e.w3.eth.get_transaction_count(me)
    for asked, flag in (("all", "all"), ("40", "40")):
        assert _cli(e, "request-redeem", "--shares", asked) == 1
        line = vault_cli._one_line_error(capsys)
        assert "request-redeem refused: the vault can pay all" in line, line
        assert f"`keeper vault redeem --shares {flag}`" in line, line
        assert line.endswith("nothing sent"), line
    assert vault_cli._queue(e).functions.pendingRedeemRequest(0, me).call() == 0
    assert e.w3.eth.get_transaction_count(me) == nonce


def test_request_redeem_the_vault_can_pay_now_is_queued_when_asked_on_purpose(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--queue-anyway`` queues shares ``maxRedeem`` covers, as the web page's tick box does:
    nobody is pushed into the queue, but one may queue on purpose by saying so."""
    v, me = e.vault, e.depositor.address
    assert _cli(e, "deposit", "--amount", "100") == 0
    shares = v.functions.balanceOf(me).call()
    assert v.functions.maxRedeem(me).call() == shares
    capsys.readouterr()
    assert _cli(e, "request-redeem", "--shares", "40", "--queue-anyway") == 0
    out = capsys.readouterr().out
    assert "queued 40 shares" in out, out
    queued = vault_cli._queue(e).functions.pendingRedeemRequest(0, me).call()
    assert queued == 40 * 10 ** v.functions.decimals().call()
    assert v.functions.balanceOf(me).call() == shares - queued


def test_request_redeem_beyond_what_the_vault_can_pay_now_is_queued(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """maxRedeem covers part of the shares (exits closed here: none): the request is queued."""
    v, me = e.vault, e.depositor.address
    assert _cli(e, "deposit", "--amount", "100") == 0
    shares = v.functions.balanceOf(me).call()
    reopen = vault_cli._close_exits(e)
    capsys.readouterr()
    assert _cli(e, "request-redeem", "--shares", "all") == 0, capsys.readouterr().err
    reopen()
    assert vault_cli._queue(e).functions.pendingRedeemRequest(0, me).call() == shares


def test_ctrl_c_after_the_deposit_is_mined_names_it(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while the report is read, once the deposit is mined. Before, the output was a bare
    `keeper: interrupted`, as if cut short before anything happened; now it names the mined
    approve and deposit and says the deposit is done."""
    real_post = connection._Transport.post
    receipts: list[str] = []

    def ctrl_c_after_the_deposit(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        method = request.get("method") if isinstance(request, dict) else None
        if method == "eth_getTransactionReceipt":
            answer = real_post(self, payload, timeout_s)  # type: ignore[arg-type]
            if answer.get("result") and request["params"][0] not in receipts:
                receipts.append(request["params"][0])
            return answer
        if method == "eth_call" and len(receipts) == 2:  # approve, deposit mined
            raise KeyboardInterrupt
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    monkeypatch.setattr(connection._Transport, "post", ctrl_c_after_the_deposit)
    assert _cli(e, "deposit", "--amount", "100") == 130
    err = capsys.readouterr().err
    monkeypatch.undo()
    assert e.vault.functions.balanceOf(e.depositor.address).call() > 0  # it was done
    (line,) = err.strip().splitlines()
    assert line.startswith(f"keeper: interrupted: deposit {receipts[1]} was mined in block"), line
    assert f"after approve {receipts[0]} in block" in line, line
    assert "the deposit is done, do not send it again" in line, line


def test_a_failure_after_the_approve_names_the_mined_approve(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The approve is mined (receipt from a node at the head); the deposit's simulation is
    answered by a node one block behind, which has no allowance yet. Before, the command ended
    with "deposit would revert ...; nothing sent", hiding the approve that was mined and left an
    allowance standing; now the error names it and the allowance, and never says "nothing
    sent"."""
    real_post = connection._Transport.post
    #: The block of each transaction mined, by hash: a read slower than the hedge delay is
    #: answered twice, and a count of answers took the approve's second one for the deposit's.
    mined: dict[str, int] = {}

    def lagging(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        method = request.get("method") if isinstance(request, dict) else None
        if method == "eth_getTransactionReceipt":
            answer = real_post(self, payload, timeout_s)  # type: ignore[arg-type]
            if answer.get("result"):
                mined[request["params"][0]] = int(answer["result"]["blockNumber"], 16)
            return answer
        if method == "eth_estimateGas" and len(mined) == 1:
            [block] = mined.values()
            request["params"] = [request["params"][0], hex(block - 1)]
            payload = json.dumps(request).encode()
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    monkeypatch.setattr(connection._Transport, "post", lagging)
    code = _cli(e, "deposit", "--amount", "100")
    line = vault_cli._one_line_error(capsys)
    monkeypatch.undo()
    assert code == 1
    assert e.usdc.functions.allowance(e.depositor.address, e.vault.address).call() == 100 * USDC
    [(approve, block)] = mined.items()
    assert line.startswith(
        f"keeper: error: approve {approve} mined in block {block} (allowance 100 USDC left "
        "to the vault); deposit would revert: "
    ), line
    assert "nothing sent" not in line, line


def test_ctrl_c_between_the_approve_and_the_deposit_names_the_approve(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C once the approve is mined, before the deposit is sent: not a bare "interrupted"."""
    real_post = connection._Transport.post
    hashes: list[str] = []

    def ctrl_c_at_the_deposit(self: object, payload: bytes, timeout_s: float) -> object:
        request = json.loads(payload)
        method = request.get("method") if isinstance(request, dict) else None
        if method == "eth_getTransactionReceipt":
            answer = real_post(self, payload, timeout_s)  # type: ignore[arg-type]
            if answer.get("result"):
                hashes.append(request["params"][0])
            return answer
        if method == "eth_estimateGas" and hashes:
            raise KeyboardInterrupt
        return real_post(self, payload, timeout_s)  # type: ignore[arg-type]

    monkeypatch.setattr(connection._Transport, "post", ctrl_c_at_the_deposit)
    assert _cli(e, "deposit", "--amount", "100") == 130
    err = capsys.readouterr().err.strip()
    monkeypatch.undo()
    assert err.startswith(f"keeper: interrupted: approve {hashes[0]} mined in block"), err
    assert err.endswith("(allowance 100 USDC left to the vault); nothing more was sent"), err


def _record(e: Env) -> Path:
    """The depositor's send record on this chain (in the test's own temporary directory)."""
    genesis = bytes(e.w3.eth.get_block(0)["hash"]).hex()[:16]
    return signer_file(e.depositor.address, f"{e.w3.eth.chain_id}-{genesis}-", "sent")


def _deposit_that_times_out(e: Env, capsys: pytest.CaptureFixture[str]) -> str:
    """A deposit (allowance already given) sent while blocks are not mined: its receipt wait
    runs out (a slow sequencer). Returns its hash, still pending; blocks stay unmined."""
    transact(e.w3, e.depositor, e.usdc.functions.approve(e.vault.address, 100 * USDC))
    _rpc(e, "evm_setAutomine", [False])
    assert _cli(e, "deposit", "--amount", "100") == 1
    line = vault_cli._one_line_error(capsys)
    assert "was sent but not mined" in line, line
    assert "looks it up before it sends anything" in line, line
    return str(json.loads(_record(e).read_text())["tx_hash"])


def test_a_retry_after_a_receipt_timeout_does_not_deposit_twice(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first run's deposit is sent, its receipt wait runs out, and it is mined a moment
    later. Before, the user's retry of the command sent a second deposit; now the retry finds
    the first one mined (the first run recorded it), says so, and sends nothing. The next run
    deposits again."""
    me = e.depositor.address
    monkeypatch.setenv("KEEPER_RECEIPT_TIMEOUT_S", "2")
    try:
        first = _deposit_that_times_out(e, capsys)
        _rpc(e, "evm_mine", [])  # the first deposit lands after the timeout
    finally:
        _rpc(e, "evm_setAutomine", [True])
    assert e.usdc.functions.balanceOf(me).call() == 4_900 * USDC  # first deposit done
    block = e.w3.eth.get_transaction_receipt(first)["blockNumber"]
    nonce = e.w3.eth.get_transaction_count(me)

    assert _cli(e, "deposit", "--amount", "100") == 1  # the user retries
    assert vault_cli._one_line_error(capsys) == (
        f"keeper: error: your previous deposit {first} (100 USDC) was mined in block {block} "
        "after the last run stopped waiting; nothing sent now: run the command again to send "
        "another"
    )
    assert e.w3.eth.get_transaction_count(me) == nonce
    assert e.usdc.functions.balanceOf(me).call() == 4_900 * USDC
    assert not _record(e).exists()
    assert _cli(e, "deposit", "--amount", "100") == 0  # asked again: a second deposit
    assert e.usdc.functions.balanceOf(me).call() == 4_800 * USDC


def test_a_retry_while_the_timed_out_deposit_is_pending_is_refused(
    e: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The retry comes while the first deposit still waits in the pool: refused, nothing sent,
    the record kept for the next run."""
    me = e.depositor.address
    monkeypatch.setenv("KEEPER_RECEIPT_TIMEOUT_S", "2")
    try:
        first = _deposit_that_times_out(e, capsys)
        assert _cli(e, "withdraw", "--amount", "1") == 1
        line = vault_cli._one_line_error(capsys)
        assert line.startswith(
            f"keeper: error: withdraw refused: your previous deposit {first} (100 USDC) is still "
            "pending"
        ), line
        assert line.endswith("nothing sent"), line
        assert _record(e).exists()
    finally:
        _rpc(e, "evm_setAutomine", [True])
    _rpc(e, "evm_mine", [])
    assert e.usdc.functions.balanceOf(me).call() == 4_900 * USDC


@pytest.mark.parametrize("used", [False, True], ids=["nonce-free", "nonce-used"])
def test_a_record_of_a_transaction_the_node_never_saw_is_dropped(
    e: Env, used: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recorded transaction never reached the node (its nonce still free, nothing pending)
    or its nonce went to another transaction: it will never be mined; the record is dropped and
    the action goes on."""
    me = e.depositor.address
    nonce = e.w3.eth.get_transaction_count(me)
    entry = {"tx_hash": "0x" + "ab" * 32, "nonce": nonce, "action": "deposit", "what": "deposit"}
    if used:  # another transaction takes the recorded nonce
        transact(e.w3, e.depositor, e.usdc.functions.approve(e.vault.address, 0))
    _record(e).write_text(json.dumps(entry))
    assert _cli(e, "deposit", "--amount", "100") == 0, capsys.readouterr().err
    assert not _record(e).exists()
    assert e.usdc.functions.balanceOf(me).call() == 4_900 * USDC


def test_an_unreadable_record_is_one_line_naming_it(
    e: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record cut short (a full disk, an edit): one line naming its file, nothing sent."""
    me = e.depositor.address
    nonce = e.w3.eth.get_transaction_count(me)
    _record(e).write_text("{not json")
    assert _cli(e, "deposit", "--amount", "100") == 1
    line = vault_cli._one_line_error(capsys)
    assert f"deposit refused: the send record {_record(e)} of an earlier run cannot be read" in line
    assert line.endswith("nothing sent"), line
    assert e.w3.eth.get_transaction_count(me) == nonce
