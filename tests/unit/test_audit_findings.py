"""Defects an audit of the keeper found: each test was written first and failed on the tree
before its fix (a reorged batch mined twice, a refused signed tx never bumped, a malformed RPC
answer killing the loop, a send failure as a traceback, RPC secrets in messages).

No node: the journaled sender runs against :class:`FakeChain`, a scripted single-account chain
with a mempool, base fee, blocks, receipts and reorgs (geth's behaviour: the transactions of a
block that is reorganized away go back to the pool). The RPC tests use a scripted
``requests`` session under the real :class:`~keeper.chain.connection.FailoverProvider`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from eth_account import Account
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3RPCError

from keeper.app.act import settle_in_flight
from keeper.app.collaborators import Keeper
from keeper.app.loop import Runner
from keeper.chain.connection import FailoverProvider, redact_url
from keeper.chain.retry import RpcUnavailableError
from keeper.cli import main
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.sender import Sender
from keeper.execution.transactions import Transactor, chain_nonce
from keeper.ops.alerts import Alerter
from keeper.ops.metrics import Metrics
from keeper.settings import CycleConfig
from keeper.units import Wei

VAULT = "0x" + "a1" * 20
GWEI = 10**9
CAPS = FeeCaps(Wei(100 * GWEI), Wei(GWEI))
CALL = bytes.fromhex("7dc0d1d0")  # rebalance()


# ------------------------------------------------------------------------------ a fake chain
def _rpc_error(message: str) -> Web3RPCError:
    return Web3RPCError(
        message,
        rpc_response={"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": message}},  # type: ignore[typeddict-item]
    )


@dataclass
class PoolTx:
    nonce: int
    tx_hash: str
    max_fee: int
    tip: int
    to: str
    data: bytes


@dataclass
class FakeChain:
    """One account's view of a chain: pool keyed by nonce, blocks, receipts, reorgs."""

    base_fee: int = GWEI
    blocks: list[dict[str, Any]] = field(default_factory=list)
    pool: dict[int, PoolTx] = field(default_factory=dict)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    mined: list[PoolTx] = field(default_factory=list)
    salt: int = 0
    #: The least gas of a plain transfer: 21,000, or more where the gas limit also pays the L1
    #: calldata (Arbitrum); a transfer with less is refused as "intrinsic gas too low".
    transfer_gas: int = 21_000

    def __post_init__(self) -> None:
        self._new_block([])

    # -- the chain -----------------------------------------------------------------------------
    def _new_block(self, txs: list[PoolTx]) -> None:
        self.salt += 1
        number = len(self.blocks)
        block_hash = keccak(text=f"block {number} salt {self.salt}")
        self.blocks.append({"number": number, "hash": block_hash, "txs": txs})
        for tx in txs:
            self.receipts[tx.tx_hash] = {
                "status": 1,
                "gasUsed": 50_000,
                "effectiveGasPrice": self.base_fee + tx.tip,
                "blockNumber": number,
                "blockHash": HexBytes(block_hash),
                "transactionHash": HexBytes(tx.tx_hash),
            }

    def latest_nonce(self) -> int:
        return sum(len(b["txs"]) for b in self.blocks)

    def mine(self, *_: Any) -> None:
        """Mine one block with every pool tx that is next in line and pays the base fee."""
        txs: list[PoolTx] = []
        nonce = self.latest_nonce()
        while nonce in self.pool and self.pool[nonce].max_fee >= self.base_fee:
            txs.append(self.pool.pop(nonce))
            nonce += 1
        self.mined += txs
        self._new_block(txs)

    def reorg(self) -> None:
        """The head block is replaced by an empty sibling; its txs go back to the pool."""
        gone = self.blocks.pop()
        for tx in gone["txs"]:
            self.receipts.pop(tx.tx_hash)
            self.mined.remove(tx)
            self.pool[tx.nonce] = tx
        self._new_block([])

    # -- the RPC surface the sender uses --------------------------------------------------------
    @property
    def block_number(self) -> int:
        return len(self.blocks) - 1

    @property
    def chain_id(self) -> int:
        return 10

    def get_block(self, which: Any) -> dict[str, Any]:
        number = self.block_number if which == "latest" else int(which)
        if number > self.block_number:
            raise BlockNotFound(str(which))
        b = self.blocks[number]
        return {"number": number, "hash": HexBytes(b["hash"]), "baseFeePerGas": self.base_fee}

    def get_transaction_receipt(self, tx_hash: Any) -> dict[str, Any]:
        key = "0x" + bytes(HexBytes(tx_hash)).hex()
        if key not in self.receipts:
            raise TransactionNotFound(key)
        return self.receipts[key]

    def estimate_gas(self, params: Any) -> int:
        return 100_000 if params.get("data") else self.transfer_gas

    def get_transaction_count(self, address: Any, block: Any = "latest") -> int:
        latest = self.latest_nonce()
        if block != "pending":
            return latest
        nonce = latest
        while nonce in self.pool:
            nonce += 1
        return nonce

    def send_raw_transaction(self, raw: Any) -> HexBytes:
        raw_bytes = bytes(HexBytes(raw))
        d = TypedTransaction.from_bytes(HexBytes(raw_bytes)).as_dict()
        tx = PoolTx(
            int(d["nonce"]),
            "0x" + keccak(raw_bytes).hex(),
            int(d["maxFeePerGas"]),
            int(d["maxPriorityFeePerGas"]),
            "0x" + bytes(HexBytes(d["to"])).hex(),
            bytes(HexBytes(d["data"])),
        )
        if not tx.data and int(d["gas"]) < self.transfer_gas:
            raise _rpc_error("intrinsic gas too low")
        if tx.nonce < self.latest_nonce():
            raise _rpc_error("nonce too low")
        old = self.pool.get(tx.nonce)
        if old is not None and old.tx_hash == tx.tx_hash:
            raise _rpc_error("already known")
        if tx.max_fee < self.base_fee:
            raise _rpc_error("max fee per gas less than block base fee")
        if old is not None and (tx.max_fee * 10 < old.max_fee * 11 or tx.tip * 10 < old.tip * 11):
            raise _rpc_error("replacement transaction underpriced")
        self.pool[tx.nonce] = tx
        return HexBytes(tx.tx_hash)


def fake_w3(chain: FakeChain) -> Any:
    # Not a JSONBaseProvider: the sender reads the pending nonce and the base fee one by one.
    return SimpleNamespace(eth=chain, provider=object())


def make_sender(chain: FakeChain, journal: Journal, acct: Any, **kw: Any) -> Sender:
    kw.setdefault("poll_s", 0.0)
    kw.setdefault("sleep", lambda s: None)
    return Sender(fake_w3(chain), acct, journal, CAPS, chain_id=10, **kw)


def stub_keeper(sender: Sender) -> Keeper:
    return Keeper(
        w3=sender.w3,
        vaults=[VAULT],
        lens=None,  # type: ignore[arg-type]  # settle_in_flight reads no vault
        policy=None,  # type: ignore[arg-type]
        config=CycleConfig(),
        sender=sender,
    )


# ------------------------------------------------------------ (1) never send twice: reorgs
def test_a_reorged_batch_back_in_the_mempool_is_not_sent_a_second_time() -> None:
    """A batch reorged out goes back to the node's pool (geth re-injects it); the keeper marks it
    ``reorged``, sees nothing pending, re-evaluates, and signs the new batch at the *next* nonce,
    past the reorged one still in the pool: both are mined -- the same rebalance sent twice.

    Expected: after the reorg the nonce of the reorged batch is still in flight (the settle step
    blocks new sends, or the new batch reuses that nonce), so at most one of the two is mined.
    """
    chain = FakeChain()
    acct = Account.create()
    s = make_sender(chain, Journal(":memory:"), acct)

    first = s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.mine()
    assert s.wait(first.nonce, timeout_s=1).status is TxStatus.MINED

    chain.reorg()  # the block is gone; the batch is back in the pool, not mined
    assert first.tx_hash in {t.tx_hash for t in chain.pool.values()}

    settled = settle_in_flight(stub_keeper(s), chain.block_number)
    assert settled.reorged  # the keeper noticed the reorg
    if settled.blocked is None:
        # What act() then does: the vault still needs its rebalance (the reorg undid it).
        s.submit_new([VAULT], chain.block_number, VAULT, CALL, 100_000)
    chain.mine()
    chain.mine()

    ours = [t for t in chain.mined if t.to == VAULT.lower() and t.data == CALL]
    assert len(ours) <= 1, (
        f"the same rebalance was mined {len(ours)} times after a reorg: nonces "
        f"{[t.nonce for t in ours]}"
    )


# ------------------------------------------------------ (1) bump of a stuck (underpriced) tx
def test_a_journaled_tx_refused_as_underpriced_is_bumped_under_the_cap() -> None:
    """A signed row from before a restart (priced at the old base fee) is refused by the node as
    underpriced: the base fee is now 3x what it pays, but far under the keeper's cap. A *sent*
    row in the same spot is replaced at the market price after ``replace_after_blocks``; a
    *signed* one is only rebroadcast, identical, every poll -- forever, while the base fee stays
    up -- and while it is pending the keeper sends nothing else.

    Expected: like a sent row, it is replaced under the cap and mined.
    """
    chain = FakeChain(base_fee=5 * GWEI)
    acct = Account.create()
    journal = Journal(":memory:")
    s = make_sender(chain, journal, acct, replace_after_blocks=3)
    s.prepare(journal.open_intent([VAULT], 1), VAULT, CALL, 100_000)  # then the process died
    chain.base_fee = 30 * GWEI  # the keeper comes back to a busier chain (cap: 100 gwei)

    restarted = make_sender(chain, journal, acct, replace_after_blocks=3)
    restarted.reconcile()
    outcome = None
    for _ in range(20):
        chain.mine()
        outcome = restarted.poll_nonce(0)
        if outcome is not None:
            break
    versions = journal.versions(restarted.address, 0)
    assert outcome is not None, (
        f"20 blocks later the tx is still stuck ({len(versions)} version(s), max fee "
        f"{versions[-1].max_fee} wei < base fee {chain.base_fee} wei < cap "
        f"{CAPS.max_fee_per_gas} wei)"
    )
    assert outcome.status is TxStatus.MINED


# ------------------------------------------ (2) RPC faults: malformed answers crash the loop
Reply = Callable[[dict[str, Any]], Any]


@dataclass
class Session:
    """A scripted ``requests.Session``: per method, a queue of replies (the last one repeats)."""

    script: dict[str, list[Reply]]
    status: int = 200

    def post(self, url: str, data: bytes, headers: Any, timeout: float) -> requests.Response:
        req = json.loads(data)
        queue = self.script[req["method"]]
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        resp = requests.Response()
        resp.status_code = self.status
        resp.url = url
        resp.reason = "Service Unavailable" if self.status == 503 else "OK"
        resp._content = json.dumps(reply(req)).encode()
        return resp


def result(value: Any) -> Reply:
    return lambda req: {"jsonrpc": "2.0", "id": req["id"], "result": value}


GOOD_BLOCK = {"number": "0x5", "hash": "0x" + "ab" * 32, "baseFeePerGas": "0x1"}


def runner_over(session: Session, cycle: Callable[[Any], Any]) -> Runner:
    provider = FailoverProvider(
        ["http://rpc.example"], session=session, sleep=lambda s: None, timeout_s=1, hedge_s=0.5
    )
    keeper = SimpleNamespace(
        w3=Web3(provider),
        sender=None,
        metrics=Metrics(),
        alerter=Alerter(None),
        probe_headers=None,
        head_block=None,
    )
    return Runner(keeper, cycle=cycle, max_cycles=1, poll_interval_s=0.01)  # type: ignore[arg-type]


def _ok_cycle(keeper: Any) -> Any:
    return SimpleNamespace(waiting=None, nothing_evaluated=lambda: None)


def _nonce_cycle(keeper: Any) -> Any:
    # What every send starts with (Sender.next_nonce / submit_new): the pending nonce.
    chain_nonce(keeper.w3, "0x" + "11" * 20, "pending")
    return SimpleNamespace(waiting=None, nothing_evaluated=lambda: None)


@pytest.mark.parametrize(
    ("script", "cycle"),
    [
        # the head poll gets a block object without its fields, then a good one
        (
            {"eth_getBlockByNumber": [result({}), result(GOOD_BLOCK)]},
            _ok_cycle,
        ),
        # the cycle's nonce read gets ``"result": null``
        (
            {
                "eth_getBlockByNumber": [result(GOOD_BLOCK)],
                "eth_getTransactionCount": [result(None)],
            },
            _nonce_cycle,
        ),
    ],
    ids=["head-block-without-fields", "null-nonce"],
)
def test_a_malformed_rpc_answer_fails_a_cycle_and_does_not_kill_the_keeper(
    script: dict[str, list[Reply]], cycle: Callable[[Any], Any]
) -> None:
    """A well-formed JSON-RPC envelope with a malformed ``result`` (a block ``{}``, a ``null``
    count) raises ``KeyError``/``TypeError``, which the loop does not count among a cycle's
    errors (``_CYCLE_ERRORS``): it escapes :meth:`Runner.run`, and ``keeper run`` dies with a
    traceback instead of logging a failed cycle and polling on.
    """
    runner = runner_over(Session(script), cycle)
    try:
        runner.run()
    except (KeyError, TypeError) as exc:
        pytest.fail(f"the keeper loop died on a malformed RPC answer: {type(exc).__name__}: {exc}")


# ------------------------------------ (3) bad input / RPC down: one line, non-zero, no traceback
@pytest.mark.parametrize(
    "refusal",
    [
        _rpc_error("insufficient funds for gas * price + value: balance 0"),
        requests.ConnectionError("connection refused"),
    ],
    ids=["node-refuses-no-gas-money", "rpc-down-at-send"],
)
def test_vault_cli_send_failure_is_one_line_not_a_traceback(
    refusal: Exception,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``keeper vault deposit`` sends through :class:`Transactor`, which lets the node's refusal
    of the raw transaction (a signer without gas money) or a transport error at the send escape
    as ``Web3RPCError`` / ``requests.ConnectionError`` -- not ``KeeperError`` -- so the CLI
    crashes with a traceback instead of one ``keeper: error:`` line and exit code 1.
    """
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_KEYSTORE_PATH", "KEEPER_RPC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + "22" * 32)

    def send_raw_transaction(raw: Any) -> Any:
        raise refusal

    def get_transaction(tx_hash: Any) -> Any:
        # the lost send is looked up by its hash: the RPC is still down
        raise requests.ConnectionError("connection refused")

    eth = SimpleNamespace(
        chain_id=10,
        get_transaction_count=lambda address, block="latest": 0,
        estimate_gas=lambda params: 60_000,
        get_block=lambda which: {"number": 1, "baseFeePerGas": GWEI},
        send_raw_transaction=send_raw_transaction,
        get_transaction=get_transaction,
    )
    w3 = SimpleNamespace(eth=eth, provider=object())

    class Client:
        """The vault client's deposit, reduced to its one send (through the real Transactor)."""

        asset_decimals = 6

        def __init__(self, w3: Any, address: str, settings: Any) -> None:
            self.w3 = w3

        def deposit(self, signer: Any, assets: int) -> Any:
            Transactor(self.w3, signer).send(VAULT, CALL, what="deposit")
            raise AssertionError("unreachable: the send failed")

    monkeypatch.setattr("keeper.app.depositor.connect", lambda *a, **k: w3)
    monkeypatch.setattr("keeper.app.depositor.VaultClient", Client)
    args = ["vault", "deposit", "--vault", VAULT, "--amount", "1", "--env-file", os.devnull]
    try:
        code = main(args)
    except Exception as exc:  # noqa: BLE001 - any escape is the defect shown here
        pytest.fail(f"keeper vault deposit crashed: {type(exc).__name__}: {exc}")
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("keeper: error:")


# ------------------------------------------------------ (4) secrets in logs: the RPC URL's key
def test_an_rpc_api_key_in_the_url_path_is_not_in_error_messages() -> None:
    """A 5xx from an RPC whose URL carries the API key in its path (Alchemy/Infura style) ends
    as :class:`RpcUnavailableError` whose message embeds requests' ``HTTPError`` text, ``... for
    url: https://host/v2/<key>``. The loop logs that message (and puts it in the ``unserved``
    alert sent to the webhook); ``redact_url`` exists to keep exactly this out of logs.
    """
    key = "SECRETAPIKEY0123456789"
    url = f"https://eth-mainnet.example/v2/{key}"
    session = Session({"eth_blockNumber": [result("0x1")]}, status=503)
    provider = FailoverProvider([url], session=session, sleep=lambda s: None, attempts=1)
    with pytest.raises(RpcUnavailableError) as info:
        provider.make_request("eth_blockNumber", [])  # type: ignore[arg-type]
    assert key not in str(info.value), f"the RPC API key leaks: {info.value}"


def test_rpc_basic_auth_credentials_are_redacted() -> None:
    """``redact_url`` keeps the ``user:password@`` part of the URL: ``connected to chain ... at``
    (logged at start-up) and every endpoint error print it."""
    assert "hunter2" not in redact_url("https://keeper:hunter2@rpc.example/path")
    provider = FailoverProvider(["https://keeper:hunter2@rpc.example"], session=object())  # type: ignore[arg-type]
    assert "hunter2" not in str(provider)
