"""``keeper check`` and ``rehearse`` through the chaos proxy: a fault-free decision, or one line.

The devnet stack of ``test_rehearse.py`` (three vaults, two out of their band), with one vault's
redemption queue holding its admin's shares, so that a check decides a batch *and* a queue fill,
and a rehearsal sends both on its fork.
Its last blocks are empty, mined at one timestamp and base fee: the proxy's ``stale`` answers (a
node a few blocks behind) see the same state, so a check that succeeds on one of them must
decide exactly what the fault-free check decides at the head.

Each command's outcome through a proxy that faults 30% of the requests (every kind; for
``rehearse``, the requests of its fork's anvil to ``--fork-url``) is either exit 0 with the whole
table or JSON, deciding what the fault-free command decides (for ``check``: all of it but the
meter, requests, calls, seconds, and the block), or exit 1 with one ``keeper: error:`` line
(``--json``: one JSON object on stdout with its ``error``); never a traceback, a key, or a table
or JSON cut short. ``CHECK_CHAOS_SEEDS`` runs more seeds.

``keeper devnet step`` takes no RPC URL (it reads its devnet's from the addresses file ``keeper
devnet up`` wrote), and ``keeper web``'s server does not talk to the node: neither is here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from web3 import Web3

from bench.chaos.proxy import EXTRA_KINDS, FAULT_KINDS, RPC_ERRORS, FaultProxy
from keeper.app import rehearse as rehearse_app
from keeper.chain.anvil import ANVIL_KEYS
from keeper.chain.artifacts import load_artifact
from keeper.chain.queues import FILLABLE
from keeper.cli import main
from keeper.devnet.tx import account, transact
from tests.conftest import rolled_back
from tests.integration import test_rehearse as rehearse
from tests.integration.test_rehearse import POLICY, Parent

pytestmark = pytest.mark.integration

built = rehearse.built
#: The proxy's ``stale`` lag, and so how many empty blocks end the module's chain.
LAG = 3
KEY = ANVIL_KEYS[3]  # the stack's keeper: check simulates as its signer
SEEDS = range(int(os.environ.get("CHECK_CHAOS_SEEDS", "4")))
#: What a check's JSON may change under faults: its meter, and the block (a lagging answer).
METER = ("rpc_requests", "rpc_calls", "seconds", "block")


@pytest.fixture(scope="module")
def queued(built: Parent) -> Parent:
    """The stack, with vault 1's queue holding its admin's shares; then ``LAG + 1`` empty blocks
    at the head's timestamp and base fee, so a node ``LAG`` blocks behind sees the head's state."""
    w3, admin, vault = built.w3, account(ANVIL_KEYS[0]), built.vaults[1]
    queue = w3.eth.contract(
        address=vault.functions.redemptionQueue().call(), abi=load_artifact("RedemptionQueue").abi
    )
    shares = int(vault.functions.balanceOf(admin.address).call())
    transact(w3, admin, vault.functions.approve(queue.address, shares))
    transact(w3, admin, queue.functions.requestRedeem(shares, admin.address, admin.address))
    for _ in range(LAG + 1):
        head = w3.eth.get_block("latest")
        _rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(int(head["baseFeePerGas"])))
        _rpc(w3, "evm_mine", hex(int(head["timestamp"])))
    return built


@pytest.fixture
def parent(queued: Parent, monkeypatch: pytest.MonkeyPatch) -> Iterator[Parent]:
    """The module's chain, as built: each test's changes are rolled back after it."""
    for name in ("KEEPER_PRIVATE_KEY", "KEEPER_VAULTS", "KEEPER_LENS", "KEEPER_BATCHER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", KEY)
    with rolled_back(queued.w3):
        yield queued


def _rpc(w3: Web3, method: str, *params: Any) -> None:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer


@dataclass
class Run:
    code: int
    out: str
    err: str


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Run:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def _argv(command: str, url_flag: str, p: Parent, url: str, *flags: str) -> list[str]:
    """``keeper <command>`` on the stack's addresses, its node at ``url`` (by ``url_flag``)."""
    files = ["--env-file", os.devnull, "--addresses", str(p.addresses)]
    return [command, *files, url_flag, url, "--policy", POLICY, *flags]


def _check(p: Parent, url: str, *flags: str) -> list[str]:
    return _argv("check", "--rpc-url", p, url, *flags)


def _rehearse(p: Parent, url: str, *flags: str) -> list[str]:
    return _argv("rehearse", "--fork-url", p, url, *flags)


def _outcome_problems(run: Run, *, json_out: bool) -> list[str]:
    """What breaks the rule: a key, a traceback, a stray line, or anything but one error line
    (and, with ``--json``, one whole JSON object naming it) when the command failed."""
    bad = []
    if KEY[2:] in run.out + run.err:
        bad.append("the key was printed")
    errors = [line for line in run.err.splitlines() if line.startswith("keeper: error: ")]
    for line in run.err.splitlines():
        if line.strip() and not line.startswith("keeper: error: "):
            try:
                json.loads(line)  # a log line
            except ValueError:
                bad.append(f"not a log line on stderr: {line[:300]}")
                break
    if run.code not in (0, 1):
        bad.append(f"exit {run.code}")
    if run.code == 1:
        if len(errors) != 1:
            bad.append(f"{len(errors)} error lines")
        if json_out:
            try:
                body = json.loads(run.out)
                if not isinstance(body, dict) or "error" not in body:
                    bad.append(f"the JSON of a failure names no error: {run.out[:300]}")
            except ValueError:
                bad.append(f"stdout is not one JSON object: {run.out[-300:]}")
        elif run.out.strip():
            bad.append(f"a failure printed a table: {run.out[:300]}")
    elif errors:
        bad.append(f"exit {run.code} with an error line: {errors}")
    return bad


def _decided(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in METER}


#: What a successful run's output breaks against the fault-free one's (``[]``: nothing):
#: given the ``--json`` body, or (``None``) the table's text.
Compare = Callable[[dict[str, Any] | None, str], list[str]]


def _through_faults(
    capsys: pytest.CaptureFixture[str],
    upstream: str,
    seed: int,
    argv: Callable[[str, tuple[str, ...]], list[str]],
    compare: Compare,
) -> None:
    """Run ``argv(proxy_url, flags)`` (``--json``, then the table) through a proxy failing 30%
    of the requests, every kind: each run keeps :func:`_outcome_problems`'s rule, and what one
    that exits 0 prints passes ``compare``."""
    bad: list[str] = []
    seen: list[str] = []  # printed at the end: a print in between is the next command's stdout
    with FaultProxy(
        upstream, rate=0.3, kinds=FAULT_KINDS + EXTRA_KINDS, seed=seed, delay_s=1.5
    ) as proxy:
        for flags in (("--json",), ()):
            run = _run(capsys, argv(proxy.url, flags))
            seen.append(f"{flags} exit {run.code}: {run.err.strip()[-300:]}")
            bad += [f"{flags}: {b}" for b in _outcome_problems(run, json_out=bool(flags))]
            if "BaseHTTP" in run.err:
                bad.append(f"{flags}: the proxy's Server header for a cause: {run.err[-300:]}")
            if run.code == 0:
                body = json.loads(run.out) if flags else None
                bad += [f"{flags}: {b}" for b in compare(body, run.out)]
        assert proxy.stats().faulted > 0
    print("\n".join(seen))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("seed", SEEDS)
def test_check_under_faults_decides_as_without_them_or_ends_in_one_line(
    parent: Parent, seed: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keeper check`` (JSON, then the table) through a proxy failing 30% of the requests:
    what it prints when it exits 0 is the fault-free check's decision, whole."""
    p = parent
    clean = _run(capsys, _check(p, p.node.url, "--json"))
    assert clean.code == 0, clean.err
    base = json.loads(clean.out)
    # The check decides a batch and a queue fill: a fault that loses either shows.
    assert base["planned"]
    assert base["queue_fills"] == [p.vaults[1].address]
    table = _run(capsys, _check(p, p.node.url))
    assert table.code == 0, table.err
    head = p.w3.eth.block_number
    monkeypatch.setenv("KEEPER_RPC_TIMEOUT_S", "1")

    def compare(got: dict[str, Any] | None, out: str) -> list[str]:
        if got is None:
            same = out.splitlines()[1:] == table.out.splitlines()[1:]
            return [] if same else [f"exit 0 but another table:\n{out}"]
        bad = []
        if not head - LAG <= got["block"] <= head:
            bad.append(f"block {got['block']}, the head {head}")
        if _decided(got) != _decided(base):
            diff = [k for k in base if _decided(base).get(k) != _decided(got).get(k)]
            bad.append(f"exit 0 but decided otherwise: {diff}")
        return bad

    _through_faults(capsys, p.node.url, seed, lambda url, flags: _check(p, url, *flags), compare)


class _FailingOn(FaultProxy):
    """The proxy answering ``kind`` (an HTTP error) to every request ``hit`` picks (by what it
    asks: :attr:`ProxyStats.by_method`'s names). ``rpc_error`` answers each of its calls with
    ``error`` (default: the proxy's first, -32603 internal error, transient)."""

    def __init__(
        self,
        upstream: str,
        hit: Callable[[str], bool],
        kind: str = "http_500",
        error: tuple[int, str] = RPC_ERRORS[0],
    ) -> None:
        super().__init__(upstream, kinds=(kind,))
        self.hit, self.hits, self.kind, self.error = hit, 0, kind, error

    def _draw(self, n_calls: int, what: str = "?") -> tuple[str | None, list[Any]]:
        if self.hit(what):
            self.hits += 1
            return self.kind, [self.error] * n_calls
        return super()._draw(n_calls, what)


#: How the proxy names a request's ``fillable()`` call (:attr:`ProxyStats.by_method`).
_ASKS_FILLABLE = f"eth_call(0x{bytes(FILLABLE).hex()})"


#: The cycle's queue reads, as the proxy names their requests (:class:`_FailingOn`'s ``hit``).
QUEUE_READS = [
    # the queue sweep's batch (every vault's queue; fillable() and totalPending() at once)
    pytest.param(lambda what: what.startswith("batch:") and _ASKS_FILLABLE in what, id="sweep"),
    # the fill step's own read of a due queue, after the sweep found it
    pytest.param(lambda what: what == _ASKS_FILLABLE, id="fill"),
]


@contextmanager
def fork_reads_through(
    monkeypatch: pytest.MonkeyPatch,
    fork_url: str,
    hit: Callable[[str], bool],
    kind: str = "http_500",
    error: tuple[int, str] = RPC_ERRORS[0],
) -> Iterator[list[_FailingOn]]:
    """``keeper rehearse``'s own requests to its fork's anvil through a :class:`_FailingOn`
    proxy failing those ``hit`` picks with ``kind`` (``error``: an ``rpc_error``'s; the proxies
    started, yielded); the fork URL is asked as it is, by the rehearsal and by anvil."""
    real = rehearse_app.connect
    proxies: list[_FailingOn] = []
    with ExitStack() as stack:

        def connect(url: str, *args: Any, **kw: Any) -> Web3:
            if url == fork_url:
                return real(url, *args, **kw)
            proxy = stack.enter_context(_FailingOn(url, hit, kind, error))
            proxies.append(proxy)
            return real(proxy.url, *args, **kw)

        monkeypatch.setattr(rehearse_app, "connect", connect)
        yield proxies
        monkeypatch.setattr(rehearse_app, "connect", real)


@pytest.mark.parametrize("step", QUEUE_READS)
def test_a_queue_read_the_node_fails_fails_the_check_not_its_fill(
    parent: Parent,
    step: Callable[[str], bool],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found under the chaos proxy: a check whose queue read the node failed exited 0 with no
    queue fill (the fault-free check fills vault 1's queue), logging "trying again next
    cycle" -- there is no next cycle. A script, or a person, read "nothing to fill". It is now
    a failed cycle: one line, exit 1, as any other read of the cycle the node fails."""
    p = parent
    monkeypatch.setenv("KEEPER_RPC_RETRIES", "1")
    with _FailingOn(p.node.url, step) as proxy:
        for flags in (("--json",), ()):
            run = _run(capsys, _check(p, proxy.url, *flags))
            assert proxy.hits > 0, "the queue read was not asked"
            assert run.code == 1, run.out
            assert not _outcome_problems(run, json_out=bool(flags)), run


@pytest.mark.parametrize("step", QUEUE_READS)
def test_a_queue_read_the_fork_fails_fails_the_rehearsal_not_its_fill(
    parent: Parent,
    step: Callable[[str], bool],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As the check above: a rehearsal reads the queues from its fork's anvil (which asks the
    fork URL for what it does not hold yet), and one whose queue read failed exited 0 with no
    queue fill, where the fault-free one fills vault 1's. One cycle, with no next one to fill
    it: one line, exit 1."""
    p = parent
    monkeypatch.setenv("KEEPER_RPC_RETRIES", "1")
    for flags in (("--json",), ()):
        with fork_reads_through(monkeypatch, p.node.url, step) as proxies:
            run = _run(capsys, _rehearse(p, p.node.url, *flags))
        assert sum(proxy.hits for proxy in proxies) > 0, "the queue read was not asked"
        assert run.code == 1, run.out
        assert not _outcome_problems(run, json_out=bool(flags)), run


def _rehearsed(body: dict[str, Any]) -> dict[str, Any]:
    """What a rehearsal decided and did: not its costs or deltas, which move with the time of
    the fork's blocks (its grants are mined at the wall clock's), nor where it forked from."""
    return {
        **{k: body[k] for k in ("planned", "simulated", "dropped", "skipped", "blocked")},
        **{k: body[k] for k in ("tx_status", "tx_to", "rebalanced", "vault_roles", "keeper")},
        "queue_fills": body["queue_fills"],
        "settlements": [
            {k: s[k] for k in ("vault", "series_id", "round_id", "outcome")}
            for s in body["settlements"]
        ],
        "decisions": [{k: d[k] for k in ("vault", "act", "band")} for d in body["decisions"]],
        "outcomes": [{k: o[k] for k in ("vault", "ok", "event")} for o in body["outcomes"]],
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_rehearse_under_faults_of_its_fork_url_does_as_without_them_or_ends_in_one_line(
    parent: Parent, seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """``keeper rehearse --fork-url <proxy>``: the fork's anvil reads the chain through a proxy
    failing 30% of the requests. Many rehearsals end at anvil's start (it exits on an HTTP
    error; rehearse starts it again a few times, and each start must get its every request
    through), in one line naming anvil's cause; the others rehearse what a fault-free one
    does."""
    p = parent
    clean = _run(capsys, _rehearse(p, p.node.url, "--json"))
    assert clean.code == 0, clean.err
    base = json.loads(clean.out)
    # The rehearsal rebalances and fills vault 1's queue: a fault that loses either shows.
    assert base["rebalanced"]
    assert base["queue_fills"] == [p.vaults[1].address]
    head = p.w3.eth.block_number

    def compare(got: dict[str, Any] | None, out: str) -> list[str]:
        if got is None:
            done = f"on the fork: {len(base['rebalanced'])} of them rebalanced"
            filled = (
                f"queue fills on the fork: filled the redemption queue of {p.vaults[1].address}"
            )
            ok = done in out and filled in out
            return [] if ok else [f"exit 0 but another rehearsal:\n{out}"]
        bad = []
        if not head - LAG <= got["fork_block"] <= head:
            bad.append(f"forked at {got['fork_block']}, the head {head}")
        want, did = _rehearsed(base), _rehearsed(got)
        if did != want:
            diff = {k: (want[k], did[k]) for k in want if want[k] != did[k]}
            bad.append(f"exit 0 but rehearsed otherwise: {diff}")
        return bad

    _through_faults(capsys, p.node.url, seed, lambda url, flags: _rehearse(p, url, *flags), compare)


def test_a_fork_url_failing_anvils_start_is_named_by_anvils_cause(
    parent: Parent, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found under the chaos proxy: a fork URL answering anvil's read of the fork block with an
    HTTP 502 ended the rehearsal in ``anvil exited on start: server: BaseHTTP/0.6
    Python/3.11.7``, the fork URL's Server header (anvil prints its response headers after the
    cause, and the last line of its stderr was taken for the cause)."""
    hit = "eth_getBlockByNumber(number)".__eq__
    with _FailingOn(parent.node.url, hit, kind="http_502") as proxy:
        url = proxy.url
        run = _run(capsys, _rehearse(parent, url))
    assert proxy.hits > 0
    assert run.code == 1
    assert not _outcome_problems(run, json_out=False), run
    [line] = run.err.strip().splitlines()[-1:]
    assert line.startswith(f"keeper: error: anvil could not fork {url}: anvil exited on start: ")
    # what anvil was reading (the fork block, or its number), and the HTTP answer it got
    assert re.search(
        r': failed to get fork block( number)?: HTTP error 502 with body: \{"error":"injected"\}$',
        line,
    ), line


@pytest.mark.parametrize("kind", ["http_500", "malformed", "stale"])
def test_a_receipt_read_the_fork_fails_after_the_cycle_is_one_line(
    parent: Parent, kind: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rehearsal reads its transaction's receipt again after the cycle, for the per-vault
    outcomes (:func:`keeper.app.rehearse.tx_outcomes`). That read failed by its fork's anvil
    ended it in a traceback when the node said it had no such receipt (``stale``: a node behind
    the block that mined it), and in a line naming no read on an HTTP error or a garbled answer
    (the provider's "eth_getTransactionReceipt failed on every RPC endpoint"). Each is now one
    line naming the read, exit 1 (``--json``: one JSON object naming it)."""
    p = parent
    monkeypatch.setenv("KEEPER_RPC_RETRIES", "1")
    after = [False]  # the cycle is over: only the receipt read after it fails
    real = rehearse_app.run_alone

    def run_alone(keeper: Any) -> Any:
        result = real(keeper)
        after[0] = True
        return result

    monkeypatch.setattr(rehearse_app, "run_alone", run_alone)
    for flags in (("--json",), ()):
        after[0] = False
        hit = lambda what: after[0] and what == "eth_getTransactionReceipt"  # noqa: E731
        with fork_reads_through(monkeypatch, p.node.url, hit, kind) as proxies:
            run = _run(capsys, _rehearse(p, p.node.url, *flags))
        assert sum(proxy.hits for proxy in proxies) > 0, "the receipt was not read after the cycle"
        assert run.code == 1, run.out
        assert not _outcome_problems(run, json_out=bool(flags)), run
        [line] = run.err.strip().splitlines()[-1:]
        assert line.startswith(
            "keeper: error: cannot read the receipt of the rehearsal's transaction 0x"
        ), line


#: The rehearsal's own requests to its fork before the cycle, as the proxy names them
#: (``keeper.app.rehearse.rehearse``: the fork's block and chain, funding the keeper account,
#: the batcher check, the admin search, the grants made by impersonating the admins).
BEFORE_THE_CYCLE = [
    "eth_blockNumber",
    "eth_chainId",
    "anvil_setBalance",
    "eth_getCode",
    "eth_call(0x67765b87)",  # maxBatch()
    "eth_getLogs",  # the batcher admin's RoleGranted logs
    "eth_call(0x91d14854)",  # hasRole(bytes32,address)
    "eth_call(0x6ba42aaa)",  # isKeeper(address)
    "eth_call(0x364bc15a)",  # KEEPER_ROLE()
    "anvil_impersonateAccount",
    "eth_estimateGas",
    "eth_sendTransaction",
    "eth_getTransactionReceipt",
    "anvil_stopImpersonatingAccount",
]
#: The proxy's kinds the rehearsal's steps before the cycle are failed with (the next test):
#: (kind, the JSON-RPC error of an ``rpc_error``). No ``timeout``: a fork's request waits 30 s.
BEFORE_KINDS = [
    pytest.param("http_500", RPC_ERRORS[0], id="http_500"),
    pytest.param("malformed", RPC_ERRORS[0], id="malformed"),
    pytest.param("cut", RPC_ERRORS[0], id="cut"),
    pytest.param("rpc_error", RPC_ERRORS[0], id="rpc_error"),  # -32603: transient
    pytest.param("rpc_error", (-32602, "invalid params"), id="rpc_error_permanent"),
]
#: The provider's words for a read it gave up on, naming no step of the rehearsal.
_BARE = re.compile(r"keeper: error: [\w()]+ failed on every RPC endpoint")


@pytest.mark.parametrize(("kind", "error"), BEFORE_KINDS)
@pytest.mark.parametrize("method", BEFORE_THE_CYCLE)
def test_a_read_or_step_the_fork_fails_before_the_cycle_is_one_line_naming_it(
    parent: Parent,
    method: str,
    kind: str,
    error: tuple[int, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What the rehearsal reads and does on its fork before the cycle (its block and chain id,
    funding and impersonating accounts, the batcher check, the admin search, the grants), failed
    by the fork's anvil with each of the proxy's kinds: anything the provider does not retry (an
    ``anvil_*`` request or an impersonated ``eth_sendTransaction``, sent once, answered with an
    HTTP error, a cut or garbled body) ended the rehearsal in a traceback, and a read the
    provider gave up on in its "<method> failed on every RPC endpoint", naming no step. Each is
    now exit 1 and one line naming what the rehearsal was reading or doing (``--json``: one JSON
    object naming it)."""
    p = parent
    monkeypatch.setenv("KEEPER_RPC_RETRIES", "1")
    in_cycle = [False]  # the cycle's own reads have their own rule (the tests above)
    real = rehearse_app.run_alone

    def run_alone(keeper: Any) -> Any:
        in_cycle[0] = True
        return real(keeper)

    monkeypatch.setattr(rehearse_app, "run_alone", run_alone)
    hit = lambda what: not in_cycle[0] and what == method  # noqa: E731
    with fork_reads_through(monkeypatch, p.node.url, hit, kind, error) as proxies:
        run = _run(capsys, _rehearse(p, p.node.url, "--json"))
    assert sum(proxy.hits for proxy in proxies) > 0, f"{method} was not asked before the cycle"
    assert not _outcome_problems(run, json_out=True), run
    assert run.code == 1, run.out[-300:]
    [line] = run.err.strip().splitlines()[-1:]
    assert not _BARE.match(line), line


def test_the_rehearsals_cost_counts_every_transaction_the_cycle_mined_on_the_fork(
    parent: Parent, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rehearsal hedges and fills vault 1's queue on its fork: two transactions. Its
    ``cost on the fork:`` line and ``gas_used``/``l2_fee_wei`` counted only the hedge's. They
    are now the sums over every transaction the keeper's account mined on the fork during the
    cycle (read here from the fork's blocks), listed in ``fork_txs``."""
    p = parent
    mined: list[dict[str, Any]] = []
    real = rehearse_app.run_alone

    def run_alone(keeper: Any) -> Any:
        w3 = keeper.w3
        first = w3.eth.block_number + 1
        result = real(keeper)
        for number in range(first, w3.eth.block_number + 1):
            for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
                if tx["from"] == keeper.sender.address:
                    mined.append(dict(w3.eth.get_transaction_receipt(tx["hash"])))
        return result

    monkeypatch.setattr(rehearse_app, "run_alone", run_alone)
    run = _run(capsys, _rehearse(p, p.node.url, "--json"))
    assert run.code == 0, run.err
    body = json.loads(run.out)
    assert body["queue_fills"] == [p.vaults[1].address]
    assert body["tx_hash"] is not None
    assert len(mined) == 2  # the hedge, then the queue's fill
    assert body["fork_txs"] == [r["transactionHash"].to_0x_hex() for r in mined]
    assert body["gas_used"] == sum(r["gasUsed"] for r in mined)
    assert body["l2_fee_wei"] == sum(r["gasUsed"] * r["effectiveGasPrice"] for r in mined)
    assert body["l1_fee_wei"] > 0  # the devnet's OP fee oracle is forked too
    assert body["total_fee_wei"] == body["l2_fee_wei"] + body["l1_fee_wei"]
    table = _run(capsys, _rehearse(p, p.node.url))
    assert table.code == 0, table.err
    assert "cost on the fork (2 transactions the cycle mined there): gas " in table.out
