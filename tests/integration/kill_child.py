"""A sender process that SIGKILLs itself at one point of a send (``test_chaos_kill.py``).

``python -m tests.integration.kill_child URL KEY TOKEN JOURNAL POINT AMOUNT``: with automine off,
it journals and sends ``TOKEN.mint(keeper, AMOUNT)``; for the replacement points it then holds the
base fee above that version's max fee for two blocks, so that a poll finds it due and the next
poll, a block later, replaces it (a bump, or a cancel when the plan no longer simulates), and
dies there. ``POINT`` is
``<send>-<when>``: the send is ``first``, ``replacement`` or ``cancel`` and the moment is
``journaled`` (its signed row is on disk, the node never saw it) or ``broadcast`` (the node took
it, the journal still says ``signed``). A real ``SIGKILL``: nothing is flushed or closed on the
way out, so what the journal holds is what SQLite put on disk.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from eth_account import Account
from web3 import Web3

from keeper.chain.artifacts import load_artifact
from keeper.chain.connection import connect
from keeper.execution.fees import FeeCaps
from keeper.execution.journal import Journal
from keeper.execution.sender import Sender
from keeper.units import Wei

CAPS = FeeCaps(Wei(10**12), Wei(10**10))

logger = logging.getLogger("kill_child")


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    resp = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    if "error" in resp:
        raise RuntimeError(f"{method}: {resp['error']}")
    return resp["result"]


def main(argv: list[str]) -> int:
    url, key, token, journal, point, amount = argv
    send, when = point.split("-")
    w3 = connect(url)
    keeper = Account.from_key(key)
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(token), abi=load_artifact("MintableERC20").abi
    )
    data = bytes.fromhex(
        contract.functions.mint(keeper.address, int(amount))._encode_transaction_data()[2:]
    )
    sender = Sender(
        w3,
        keeper,
        Journal(journal),
        CAPS,
        replace_after_blocks=1,
        poll_s=0.02,
        still_valid=(lambda to, data: False) if send == "cancel" else None,
    )
    die_at = 1 if send == "first" else 2
    real = w3.eth.send_raw_transaction
    sends = 0

    def send_raw(raw: Any) -> Any:
        nonlocal sends
        sends += 1
        if sends == die_at and when == "journaled":
            os.kill(os.getpid(), signal.SIGKILL)
        out = real(raw)
        if sends == die_at and when == "broadcast":
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    w3.eth.send_raw_transaction = send_raw  # type: ignore[method-assign]
    rpc(w3, "evm_setAutomine", False)
    first = sender.submit_new([token], 0, token, data, 120_000)
    for _ in range(2):
        rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(first.max_fee + 1))
        rpc(w3, "evm_mine")
        sender.poll_nonce(first.nonce)  # due after a block; replaced (and killed) a block later
    logger.error("still alive after %s", point)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
