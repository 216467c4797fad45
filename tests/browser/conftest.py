"""Browser tests: the built web app in headless Chromium against anvil with the devnet stack.

Set-up, once per module:

1. anvil on a free port (:class:`keeper.chain.anvil.Anvil`, stopped by PID);
2. the demo's devnet on it (:func:`keeper.app.demo.run_demo` with ``rpc_url``: the stack, the
   depositors, the desk's options, the market and the real keeper hedging for a few steps), so
   the page has history, open options and rebalances to show;
3. the page's depositor, anvil account 1 (unused by the demo), given USDC by the admin;
4. the chain's clock frozen (``anvil_setBlockTimestampInterval 0``): each later block has the
   same timestamp, so the options' value, and with it NAV, is the same when a preview is read and
   when the transaction is mined. The previews can then be compared exactly;
5. ``keeper web``'s server in-process on a free port (:class:`keeper.app.web.WebServer`);
6. Debian's Chromium (``/usr/bin/chromium``, installed by ``make test``) driven by PyPI
   playwright; Playwright's own browser download is never used.

The wallet (``wallet.js``) is injected with ``page.add_init_script``. It signs in Python:
``eth_sendTransaction`` calls ``window.__walletSend`` (``page.expose_function``), which fills
nonce, gas and fees, signs with account 1's anvil key through eth-account, and sends the raw
transaction. Anvil's own signing of unlocked accounts is not used.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.devnet.tx import transact
from keeper.locations import PROJECT_ROOT

CHROMIUM = Path(os.environ.get("KEEPER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DIST = PROJECT_ROOT / "web" / "dist"
#: Where the tests save their screenshots: ``docs/img`` (the README's pictures) only when
#: ``KEEPER_UPDATE_SCREENSHOTS=1``, so a plain ``make test`` leaves the tree as it found it.
SCREENSHOTS = (
    PROJECT_ROOT / "docs" / "img"
    if os.environ.get("KEEPER_UPDATE_SCREENSHOTS") == "1"
    else PROJECT_ROOT / "out" / "screenshots"
)
WALLET_JS = Path(__file__).with_name("wallet.js")
#: The page's depositor: anvil account 1, which the demo leaves unused.
DEPOSITOR_KEY = ANVIL_KEYS[1]
DEPOSITOR_USDC = 50_000 * 10**6
DEMO_VAULTS = 2
DEMO_STEPS = 24
#: The page's block poll (``POLL_MS`` in web/src/main.js).
POLL_MS = 12_000
VIEWPORT = {"width": 1360, "height": 1000}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class Devnet:
    """The chain the page is pointed at."""

    node: Anvil
    w3: Web3
    addresses: dict[str, Any]
    addresses_path: Path
    depositor: LocalAccount
    vault_abi: list[dict[str, Any]]
    erc20_abi: list[dict[str, Any]]
    queue_abi: list[dict[str, Any]]

    def vault(self, address: str) -> Any:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=self.vault_abi)

    def queue(self, vault: str) -> Any:
        """The vault's ERC-7540 redemption queue (the devnet stack gives each vault one)."""
        address = self.vault(vault).functions.redemptionQueue().call()
        assert int(address, 16) != 0, f"vault {vault} has no redemption queue"
        return self.w3.eth.contract(address=address, abi=self.queue_abi)

    @property
    def usdc(self) -> Any:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(self.addresses["usdc"]), abi=self.erc20_abi
        )

    def rpc(self, method: str, *params: Any) -> Any:
        resp = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in resp, resp
        return resp.get("result")


@dataclass
class Wallet:
    """The Python half of the injected wallet: signs and sends, and records what it sent."""

    w3: Web3
    account: LocalAccount
    sent: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: What it sent, by hash: the nonce it gave each (its own node's ``eth_getTransactionByHash``).
    nonces: dict[str, int] = field(default_factory=dict)

    def send(self, tx: dict[str, Any]) -> str:
        """Sign ``tx`` (an ``eth_sendTransaction`` request) with the account's key and send it."""
        if str(tx.get("from", "")).lower() != self.account.address.lower():
            raise ValueError(f"the wallet holds {self.account.address}, not {tx.get('from')}")
        self.requests.append(dict(tx))
        data = tx.get("data") or tx.get("input") or "0x"
        to = Web3.to_checksum_address(tx["to"])
        value = int(tx.get("value", "0x0"), 16)
        gas = (
            int(tx["gas"], 16)
            if tx.get("gas")
            else self.w3.eth.estimate_gas(
                {"from": self.account.address, "to": to, "data": data, "value": value}
            )
            * 12
            // 10
        )
        base = int(self.w3.eth.get_block("latest")["baseFeePerGas"])
        tip = 10**9
        nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
        signed = self.account.sign_transaction(
            {
                "type": 2,
                "chainId": self.w3.eth.chain_id,
                "nonce": nonce,
                "to": to,
                "data": data,
                "value": value,
                "gas": gas,
                "maxFeePerGas": 2 * base + tip,
                "maxPriorityFeePerGas": tip,
            }
        )
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
        self.sent.append(tx_hash)
        self.nonces[tx_hash] = nonce
        return tx_hash

    def tx(self, tx_hash: str) -> dict[str, Any] | None:
        """A sent transaction as the wallet's node answers ``eth_getTransactionByHash`` (the
        fields the page reads), or None for one it did not send."""
        nonce = self.nonces.get(str(tx_hash).lower())
        if nonce is None:
            return None
        return {"hash": tx_hash, "from": self.account.address.lower(), "nonce": hex(nonce)}


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    from keeper.app.demo import DemoConfig, run_demo

    out = tmp_path_factory.mktemp("web-devnet")
    node = Anvil().start()
    try:
        cfg = DemoConfig(
            vaults=DEMO_VAULTS,
            steps=DEMO_STEPS,
            rpc_url=node.url,
            addresses_path=out / "devnet.json",
            journal_path=out / "journal.sqlite",
            json_path=None,
            plot_path=None,
        )
        run_demo(cfg)
        w3 = connect(node.url)
        addresses = json.loads(cfg.addresses_path.read_text())
        devnet = Devnet(
            node=node,
            w3=w3,
            addresses=addresses,
            addresses_path=cfg.addresses_path,
            depositor=Account.from_key(DEPOSITOR_KEY),
            vault_abi=load_artifact("OptionVault").abi,
            erc20_abi=load_artifact("MintableERC20").abi,
            queue_abi=load_artifact("RedemptionQueue").abi,
        )
        admin = Account.from_key(ANVIL_KEYS[0])
        transact(w3, admin, devnet.usdc.functions.mint(devnet.depositor.address, DEPOSITOR_USDC))
        devnet.rpc("anvil_setBlockTimestampInterval", 0)
        yield devnet
    finally:
        node.stop()


@pytest.fixture(scope="module")
def server(devnet: Devnet) -> Iterator[str]:
    from keeper.app.web import WebServer, build_config, read_addresses

    if not (DIST / "index.html").is_file():
        pytest.fail(f"{DIST}/index.html is missing: run `make install` (it builds web/)")
    config = build_config(
        read_addresses(devnet.addresses_path),
        rpc_url=devnet.node.url,
        chain_id=devnet.w3.eth.chain_id,
    )
    with WebServer(config, dist=DIST, port=0) as web:
        yield web.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def wallet(devnet: Devnet) -> Wallet:
    return Wallet(devnet.w3, devnet.depositor)


@pytest.fixture
def page(browser: Any, server: str, devnet: Devnet, wallet: Wallet) -> Iterator[Any]:
    with wallet_page(browser, devnet, wallet) as pg:
        yield pg


@contextmanager
def wallet_page(
    browser: Any, devnet: Devnet, wallet: Wallet | None, *, chain: str | None = None
) -> Iterator[Any]:
    """A page with the injected wallet (``wallet.js``), failing on any uncaught page error.

    ``wallet`` signs what the page sends (None: nothing can be sent). ``chain`` (hex): the wallet
    is already connected to the site, as a wallet remembers an earlier visit, and on that chain.
    """
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    config = {"account": devnet.depositor.address, "rpcUrl": devnet.node.url}
    script = WALLET_JS.read_text().replace("__WALLET__", json.dumps(config))
    if chain is not None:
        connected = script.replace("let connected = false", "let connected = true")
        script = connected.replace("let chainOverride = null", f"let chainOverride = '{chain}'")
        assert "let connected = true" in script
        assert f"chainOverride = '{chain}'" in script
    pg.add_init_script(script=script)
    if wallet is not None:
        pg.expose_function("__walletSend", wallet.send)
        pg.expose_function("__walletTx", wallet.tx)
    pg.set_default_timeout(30_000)
    try:
        yield pg
    finally:
        # A route handler still running (a test's faulted RPC call awaiting its `route.fetch()`)
        # raised into the next test's set-up when the context closed under it, in one loaded
        # full run: let the handlers that are in flight end quietly first.
        pg.unroute_all(behavior="ignoreErrors")
        context.close()
    assert not errors, f"uncaught errors on the page: {errors}"


class PageClock:
    """The page's clock, installed before it loads and moved on while the test waits.

    ``page.clock.install()`` replaces the page's timers; the clock then runs as the real one
    does. :meth:`wait_for` moves it on a second at a time, and only while none of the page's
    requests is in flight: what it skips is waiting (viem's backoff between retries, its
    polling), never a request, and a request's own timeout (viem's 10 s) cannot fire because the
    clock jumped. Create it before the page loads.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.in_flight: set[Any] = set()
        #: Requests ended (answered or failed) so far.
        self.ended = 0
        #: While held (:meth:`held`): the page's time run since the hold, in ms.
        self.held_ms: int | None = None
        page.on("request", self._sent)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)
        page.clock.install()

    def _sent(self, request: Any) -> None:
        self.in_flight.add(request)

    def _ended(self, request: Any) -> None:
        self.in_flight.discard(request)
        self.ended += 1

    def wait_for(self, selector: str, *, timeout_s: float = 90, ahead_s: float = 60) -> None:
        """Wait up to ``timeout_s`` (real) for ``selector``, moving the page's clock on a second
        every tenth of a second while no request is in flight, by ``ahead_s`` at most."""
        deadline = time.monotonic() + timeout_s
        ahead_ms = 0
        while self.page.locator(selector).count() == 0:
            assert time.monotonic() < deadline, f"{selector} never appeared"
            if ahead_ms < ahead_s * 1000 and not self.in_flight:
                self.page.clock.fast_forward(1_000)
                ahead_ms += 1_000
            self.page.wait_for_timeout(100)

    @contextmanager
    def held(self, head: int) -> Iterator[None]:
        """Hold the page's clock, just after its block poll ran: no poll runs until the block
        ends, and the page's other timers fire only in :meth:`run_until`. ``head``: the chain's
        head block, which the page shows (the poll's own refresh done) once this is entered.

        Inside, a page that shows a block the test mined has read it itself, whatever the
        machine's speed: its poll, 12 s of page time away, cannot have. The clock resumes at the
        end, the page's timers where they were.
        """
        self._idle(30)
        # Paused and a minute ahead of the page's time: every timer due by then fires once, at
        # the end, so the poll (every POLL_MS) runs there and next runs POLL_MS later. (Ahead by
        # a minute, not by POLL_MS: pause_at refuses a time the page's clock has passed, and the
        # minute is room for this process to stall between reading the clock and the pause.)
        now_ms = int(self.page.evaluate("Date.now()"))
        self.page.clock.pause_at((now_ms + 60_000) / 1000)  # Python's pause_at takes seconds
        self.held_ms = 0
        try:
            # The poll read the block number (its cache had expired): once answered, it refreshes
            # only for a block the page does not show, and then shows ``head``.
            ended = self.ended
            self.run_until(f'#main[data-block="{head}"]', done=lambda: self.ended > ended)
            yield
        finally:
            self.held_ms = None
            self.page.clock.resume()

    def run_until(
        self, selector: str, *, done: Callable[[], bool] = lambda: True, timeout_s: float = 60
    ) -> None:
        """While held: run the page's clock on, HELD_STEP_MS at a time and only while none of
        its requests is in flight, until ``selector`` is on the page, ``done()`` holds and no
        request is in flight. Fails before the page's time reaches its next poll (POLL_MS)."""
        assert self.held_ms is not None, "run_until runs a held clock (PageClock.held)"
        deadline = time.monotonic() + timeout_s
        while self.in_flight or not done() or self.page.locator(selector).count() == 0:
            assert time.monotonic() < deadline, f"{selector} never appeared ({timeout_s} s)"
            if not self.in_flight:
                assert self.held_ms + HELD_STEP_MS < POLL_MS, (
                    f"{selector} not there after {self.held_ms} ms of the page's time: its poll "
                    "would run next"
                )
                self.page.clock.run_for(HELD_STEP_MS)
                self.held_ms += HELD_STEP_MS
            self.page.wait_for_timeout(10)

    def run_on(self, ms: int) -> None:
        """While held: run the page's clock on by ``ms`` as :meth:`run_until` does (only while
        no request is in flight), and end with none in flight: the page has had ``ms`` of its own
        time for whatever it does next, however slow its requests or its machine."""
        assert self.held_ms is not None, "run_on runs a held clock (PageClock.held)"
        until = self.held_ms + ms
        self.run_until("html", done=lambda: self.held_ms is not None and self.held_ms >= until)

    def _idle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.in_flight:
            assert time.monotonic() < deadline, f"requests still in flight: {self.in_flight}"
            self.page.wait_for_timeout(10)


#: A held page clock's step (:meth:`PageClock.run_until`): past viem's 5 ms batch wait, a 20th
#: of its 1 s receipt polls.
HELD_STEP_MS = 50


#: A JSON-RPC call the page sent: its method and params.
Call = tuple[str, list[Any]]


class NodeCalls:
    """The JSON-RPC calls the page sends its node (each call of a batch): ``calls`` in the order
    sent, ``answered`` in the order their answers came.

    Create it before the calls of interest: a test can then wait for what the page has asked
    (:meth:`wait_for`) instead of waiting a fixed time for it to have asked.
    """

    def __init__(self, page: Any, node_url: str) -> None:
        self.page = page
        self.node = node_url.rstrip("/")
        self.calls: list[Call] = []
        self.answered: list[Call] = []
        page.on("request", self._sent)
        page.on("requestfinished", self._answered)

    def _of(self, request: Any) -> list[Call]:
        if request.method != "POST" or request.url.rstrip("/") != self.node:
            return []
        body = request.post_data_json
        return [
            (str(call.get("method")), list(call.get("params") or []))
            for call in (body if isinstance(body, list) else [body])
        ]

    def _sent(self, request: Any) -> None:
        self.calls.extend(self._of(request))

    def _answered(self, request: Any) -> None:
        self.answered.extend(self._of(request))

    def wait_for(self, done: Callable[[NodeCalls], bool], *, timeout_s: float = 30) -> None:
        """Wait up to ``timeout_s`` until ``done(self)`` holds."""
        deadline = time.monotonic() + timeout_s
        while not done(self):
            assert time.monotonic() < deadline, f"not asked; the last calls: {self.calls[-10:]}"
            self.page.wait_for_timeout(50)
