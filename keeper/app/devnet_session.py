"""``keeper devnet up`` / ``keeper devnet step``: a devnet to use by hand, kept until Ctrl-C.

:func:`devnet_up` starts anvil (its own session: a terminal's Ctrl-C reaches the keeper, which then
stops the node by PID), deploys the full stack (:func:`keeper.devnet.stack.deploy_stack`, with
the demo's vault profiles), funds the depositors and sells each vault an opening book
(:meth:`keeper.devnet.market.Market.setup`), and writes the addresses file that ``keeper run``,
``check``, ``vault`` and ``rehearse`` read with ``--addresses``. The file also carries a
``devnet`` section: the RPC URL, the anvil PID, the seed, the market step reached, and the roles
(anvil dev accounts). The node then runs until SIGINT/SIGTERM; the file is removed when it
stops, so it never points at a dead node. A SIGINT/SIGTERM before the devnet is ready cuts the
deployment short as a ``KeyboardInterrupt`` (``keeper.cli`` takes SIGTERM as one), with the same
clean-up.

:func:`devnet_step` moves the market of a running devnet by N steps (:meth:`~keeper.devnet.market.
Market.step`: oracle, arbitrageur, expiries, depositors, desk), from any process, through that
file. ``devnet up --market-every S`` does one step every S seconds in the background instead.

The roles are anvil's default accounts (the public "test test ... junk" mnemonic): admin 0, you 1
(funded with USDC, for ``keeper vault`` and a wallet by hand: the market never sends from it, so
it has approved nothing), desk 2, keeper 3 (registered on the batcher), arbitrageur 4, option
buyer 5, depositors 6-8 (the market's, funded with USDC, each vault approved for good). Their
keys are public: never use them on a real chain.

The devnet (deployment, market) is imported inside the functions, so importing this module (as the
``keeper`` CLI does for ``--help``) loads none of it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np
from web3 import Web3
from web3.exceptions import Web3Exception

from keeper.app.signals import StopRequest
from keeper.chain.anvil import ANVIL_KEYS, Anvil
from keeper.chain.connection import connect
from keeper.errors import ChainError, ConfigError, KeeperError
from keeper.locations import check_writable, read_utf8

if TYPE_CHECKING:
    from keeper.devnet.market import Market, StepRecord
    from keeper.devnet.stack import DevnetStack

logger = logging.getLogger(__name__)

#: The price path's length: more market steps than a hand session will ever take.
PATH_STEPS = 100_000
#: Role -> anvil account index (see the module docstring).
ROLES = {"admin": 0, "you": 1, "desk": 2, "keeper": 3, "arbitrageur": 4, "buyer": 5}
DEPOSITORS = (6, 7, 8)
#: USDC (token units) ``devnet up`` mints to the account to use by hand ("you", account 1).
YOUR_USDC = 1_000_000 * 10**6


@dataclass(frozen=True)
class DevnetConfig:
    """What :func:`devnet_up` starts."""

    vaults: int = 4
    seed: int = 7
    port: int | None = 8545
    addresses_path: Path = Path("out/devnet.json")
    step_seconds: int = 600
    vol: float = 0.8
    block_time: float | None = None
    market_every_s: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.vaults <= 100:
            raise ConfigError("--vaults must be between 1 and 100")
        if self.seed < 0:  # numpy's generators take only non-negative seeds
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if self.port is not None and not 1 <= self.port <= 65_535:
            raise ConfigError("--port must be between 1 and 65535")
        if self.step_seconds < 1:
            raise ConfigError("--step-seconds must be >= 1")
        # NaN fails every comparison: test finite first.
        for flag, value in (
            ("--market-every", self.market_every_s),
            ("--block-time", self.block_time),
        ):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{flag} must be a finite number > 0 (seconds), got {value}")


@dataclass(frozen=True)
class Account:
    """A role's anvil dev account (public key material: devnet only)."""

    role: str
    index: int
    address: str
    key: str
    usdc: int = 0


@dataclass(frozen=True)
class DevnetInfo:
    """What a running devnet offers: where it is and who is who."""

    rpc_url: str
    chain_id: int
    pid: int | None
    addresses_path: Path
    vaults: tuple[str, ...]
    accounts: tuple[Account, ...]
    #: ``--market-every``: the devnet takes its own market steps, and ``devnet step`` refuses it.
    market_every_s: float | None = None


# ----------------------------------------------------------------------------- up


def devnet_up(
    cfg: DevnetConfig,
    on_ready: Callable[[DevnetInfo], None],
    on_step: Callable[[StepRecord], None] | None = None,
    on_started: Callable[[str], None] | None = None,
) -> int:
    """Start and deploy the devnet, call ``on_ready``, then run until SIGINT/SIGTERM.

    ``on_started`` is called with the node's URL once anvil answers, before the deployment (so
    nothing says "starting" for a port that turns out to be taken).

    Returns the number of background market steps taken. The node is stopped by its PID and the
    addresses file removed, however this ends: a SIGINT/SIGTERM once the devnet is ready is a
    clean stop (the return), one before it a ``KeyboardInterrupt`` that ends the deployment.

    Raises:
        ConfigError: anvil is missing, or the addresses file cannot be written.
        ChainError: The port is taken, or the node fails.
    """
    check_writable(cfg.addresses_path)
    refuse_running_devnet(cfg.addresses_path)
    stop = StopRequest()
    # The deployment is mined at once; the block time starts when the devnet is ready.
    node = Anvil(port=cfg.port, block_time=cfg.block_time, setup_at_once=True)
    # Until the devnet is ready, SIGINT and SIGTERM (``keeper.cli``) are a KeyboardInterrupt that
    # cuts the deployment short; only the ready devnet waits for them as a flag.
    node.start()
    try:
        if on_started is not None:
            on_started(node.url)
        w3 = connect(node.url)
        market, info = _deploy(w3, node, cfg)
        node.start_block_time()
        on_ready(info)
        with _stop_on_signals(stop):
            return _serve(market, cfg, stop, on_step)
    except (OSError, Web3Exception) as exc:
        if stop.is_set():
            return 0
        raise ChainError(f"devnet: the node failed: {type(exc).__name__}: {exc}") from exc
    finally:
        node.stop()
        cfg.addresses_path.unlink(missing_ok=True)
        _tmp_of(cfg.addresses_path).unlink(missing_ok=True)


def _deploy(w3: Web3, node: Anvil, cfg: DevnetConfig) -> tuple[Market, DevnetInfo]:
    from keeper.app.demo import deploy_demo_stack
    from keeper.devnet.market import Market, demo_accounts
    from keeper.devnet.stack import write_addresses
    from keeper.devnet.tx import account

    accounts = demo_accounts()
    mcfg = _market_config(cfg.seed, cfg.step_seconds, cfg.vol)
    stack = deploy_demo_stack(w3, accounts, cfg.vaults, mcfg.spot8)
    market = Market(w3, stack, accounts, mcfg, exact_preview=cfg.block_time is None)
    market.setup()
    market.mint_usdc(account(ANVIL_KEYS[ROLES["you"]]).address, YOUR_USDC)
    write_addresses(cfg.addresses_path, stack, rpc_url=node.url)
    info = DevnetInfo(
        rpc_url=node.url,
        chain_id=stack.chain_id,
        pid=node.pid,
        addresses_path=cfg.addresses_path,
        vaults=stack.vaults,
        accounts=_accounts(w3, stack),
        market_every_s=cfg.market_every_s,
    )
    _write_session(cfg.addresses_path, info, cfg)
    return market, info


def _serve(
    market: Market,
    cfg: DevnetConfig,
    stop: StopRequest,
    on_step: Callable[[StepRecord], None] | None,
) -> int:
    steps = 0
    while not stop.wait(cfg.market_every_s if cfg.market_every_s else 3600.0):
        if cfg.market_every_s is None:
            continue
        session = read_session(cfg.addresses_path)
        rec = _step(market, int(session["step"]) + 1, cfg.seed)
        _bump_step(cfg.addresses_path, rec.step)
        steps += 1
        if on_step is not None:
            on_step(rec)
    return steps


@contextmanager
def _stop_on_signals(stop: StopRequest) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping the devnet", signum)
        stop.set_from_handler()  # no lock here (see StopRequest)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# ----------------------------------------------------------------------------- step


def devnet_step(
    addresses_path: Path, steps: int, on_step: Callable[[StepRecord], None] | None = None
) -> list[StepRecord]:
    """Move the market of the devnet ``addresses_path`` describes by ``steps`` steps.

    A devnet started with ``--market-every`` takes its own steps, from the same accounts: a step
    from here would race it for their nonces (and for the step counter), so it is refused.

    Raises:
        ConfigError: No such devnet file, or not one ``keeper devnet up`` wrote, or its devnet
            takes its own market steps (``--market-every``).
        ChainError: The devnet's node is gone, or a market transaction failed.
    """
    if steps < 1:
        raise ConfigError("--steps must be >= 1")
    from keeper.devnet.market import Market, demo_accounts

    session = read_session(addresses_path)
    url = str(session["rpc_url"])
    try:
        w3 = connect(url, timeout_s=10)
    except ChainError as exc:
        raise ChainError(
            f"the devnet of {addresses_path} at {url} is not running ({exc}): "
            "start it with `keeper devnet up`"
        ) from exc
    every = session.get("market_every_s")
    if every is not None:
        raise ConfigError(
            f"the devnet of {addresses_path} takes its own market step every {every:g} s "
            "(keeper devnet up --market-every): `keeper devnet step` would race it for the same "
            "accounts' nonces; start the devnet without --market-every to step it by hand"
        )
    stack = _stack_from(addresses_path)
    seed = int(session["seed"])
    mcfg = _market_config(seed, int(session["step_seconds"]), float(session.get("vol", 0.8)))
    market = Market(w3, stack, demo_accounts(), mcfg)
    done: list[StepRecord] = []
    for _ in range(steps):
        step = int(read_session(addresses_path)["step"]) + 1
        try:
            rec = _step(market, step, seed)
        except (OSError, Web3Exception) as exc:
            raise ChainError(f"market step {step} failed: {type(exc).__name__}: {exc}") from exc
        _bump_step(addresses_path, rec.step)
        done.append(rec)
        if on_step is not None:
            on_step(rec)
    return done


def _step(market: Market, i: int, seed: int) -> StepRecord:
    # Each step's draws come from (seed, step): the same step gives the same flows whichever
    # process takes it.
    market.rng = np.random.default_rng([seed, i])
    market.queue_rng = np.random.default_rng([seed, i, 1])
    try:
        return market.step(i)
    except KeeperError:
        raise
    except ValueError as exc:
        raise ChainError(f"market step {i} failed: {exc}") from exc


def _market_config(seed: int, step_seconds: int, vol: float) -> Any:
    from keeper.devnet.market import MarketConfig

    return MarketConfig(seed=seed, steps=PATH_STEPS, step_seconds=step_seconds, vol=vol)


# ----------------------------------------------------------------------------- the file


#: The ``devnet`` section's integer keys that ``keeper devnet step`` reads.
_SESSION_INTS = ("seed", "step", "step_seconds")


def read_session(addresses_path: Path) -> dict[str, Any]:
    """The ``devnet`` section of an addresses file written by ``keeper devnet up``.

    Raises:
        ConfigError: The file is missing, unreadable, or has no ``devnet`` section, or one
            without the seed, step or step length as integers.
    """
    try:
        raw = json.loads(read_utf8(addresses_path, "addresses file"))
    except FileNotFoundError:
        raise ConfigError(
            f"{addresses_path} does not exist: start a devnet with `keeper devnet up`"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{addresses_path} is not readable JSON: {exc}") from None
    session = raw.get("devnet") if isinstance(raw, dict) else None
    if not isinstance(session, dict) or "rpc_url" not in session:
        raise ConfigError(f"{addresses_path} was not written by `keeper devnet up`")
    for key in _SESSION_INTS:
        value = session.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(
                f"{addresses_path}: devnet.{key} is missing or not an integer ({value!r}): "
                "restart the devnet with `keeper devnet up` to rewrite the file"
            )
    vol = session.get("vol", 0.8)
    if not isinstance(vol, int | float) or isinstance(vol, bool):
        raise ConfigError(f"{addresses_path}: devnet.vol is not a number ({vol!r})")
    every = session.get("market_every_s")
    if every is not None and (not isinstance(every, int | float) or isinstance(every, bool)):
        raise ConfigError(
            f"{addresses_path}: devnet.market_every_s is not a number or null ({every!r})"
        )
    return session


def running_devnet(addresses_path: Path) -> str | None:
    """The RPC URL of the ``keeper devnet up`` whose addresses file this is, if it still runs.

    A file written by ``keeper devnet up`` names its anvil's PID and URL; the devnet runs if that
    process is alive and the URL answers. Anything else (no file, another kind of file, a dead
    PID, a node that does not answer) is None: the path is free to take.
    """
    try:
        raw = json.loads(addresses_path.read_text())
    except (OSError, ValueError):
        return None
    session = raw.get("devnet") if isinstance(raw, dict) else None
    if not isinstance(session, dict):
        return None
    url, pid = session.get("rpc_url"), session.get("pid")
    if not isinstance(url, str) or not isinstance(pid, int) or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    try:
        connect(url, timeout_s=2, attempts=1)  # it asks the node for its chain id
    except (KeeperError, OSError, ValueError, Web3Exception):
        return None
    return url


def refuse_running_devnet(addresses_path: Path) -> None:
    """Refuse to write over the addresses file of a running ``keeper devnet up``.

    Raises:
        ConfigError: The file belongs to a devnet that still runs (naming its URL).
    """
    url = running_devnet(addresses_path)
    if url is not None:
        raise ConfigError(
            f"{addresses_path} belongs to the devnet running at {url} (keeper devnet up): pass "
            "--addresses with another path, or stop that devnet first"
        )


def _write_session(addresses_path: Path, info: DevnetInfo, cfg: DevnetConfig) -> None:
    raw = json.loads(addresses_path.read_text())
    raw["devnet"] = {
        "rpc_url": info.rpc_url,
        "pid": info.pid,
        "seed": cfg.seed,
        "step": 0,
        "step_seconds": cfg.step_seconds,
        "vol": cfg.vol,
        "market_every_s": cfg.market_every_s,
        "note": "anvil dev accounts: public keys, devnet only",
        "accounts": [
            {"role": a.role, "index": a.index, "address": a.address, "key": a.key}
            for a in info.accounts
        ],
    }
    _atomic_write(addresses_path, raw)


def _bump_step(addresses_path: Path, step: int) -> None:
    raw = json.loads(addresses_path.read_text())
    raw["devnet"]["step"] = step
    _atomic_write(addresses_path, raw)


def _tmp_of(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _atomic_write(path: Path, data: dict[str, Any]) -> None:
    tmp = _tmp_of(path)
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _stack_from(addresses_path: Path) -> DevnetStack:
    from keeper.devnet.stack import DevnetStack

    raw = json.loads(addresses_path.read_text())
    names = [f.name for f in fields(DevnetStack)]
    missing = [n for n in names if n not in raw]
    if missing:
        raise ConfigError(f"{addresses_path} lacks {', '.join(missing)}")
    values = {n: raw[n] for n in names}
    values["vaults"] = tuple(values["vaults"])
    return DevnetStack(**values)


def _accounts(w3: Web3, stack: DevnetStack) -> tuple[Account, ...]:
    from keeper.devnet.tx import account

    usdc = w3.eth.contract(
        address=Web3.to_checksum_address(stack.usdc),
        abi=[
            {
                "name": "balanceOf",
                "type": "function",
                "stateMutability": "view",
                "inputs": [{"name": "a", "type": "address"}],
                "outputs": [{"name": "", "type": "uint256"}],
            }
        ],
    )
    out: list[Account] = []
    roles = [*ROLES.items(), *((f"depositor {k + 1}", i) for k, i in enumerate(DEPOSITORS))]
    for role, index in roles:
        key = ANVIL_KEYS[index]
        address = str(account(key).address)
        balance = int(usdc.functions.balanceOf(address).call())
        out.append(Account(role, index, address, key, balance))
    return tuple(out)
