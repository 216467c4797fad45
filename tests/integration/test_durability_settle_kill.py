"""SIGKILL while the journal books a mined transaction, then a restart in a fresh process.

The send points (journaled, broadcast, a replacement's, a cancel's) are
``test_chaos_kill.py``'s. Here the process dies inside the write that settles a mined nonce (its
version marked mined, its intent not yet): the restart finds the nonce still pending, settles it
from its receipt, hands it to the settle step to book once, and sends nothing again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keeper.execution.journal import IntentStatus, Journal, TxStatus
from tests.conftest import Chain
from tests.integration.test_execution_sender import make_rig

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import os, signal, sys
from eth_account import Account
from web3 import Web3
from keeper.chain.connection import connect
from keeper.execution.journal import Journal, TxStatus
from keeper.execution.sender import Sender
from tests.integration.test_execution_sender import CAPS

url, key, token, path, data, point = sys.argv[1:]
real_mark, real_set_intent = Journal.mark, Journal.set_intent

def mark(self, tx_hash, status, **fields):
    out = real_mark(self, tx_hash, status, **fields)
    if point == "mined" and status is TxStatus.MINED:
        os.kill(os.getpid(), signal.SIGKILL)  # the version is mined in the write, not committed
    return out

def set_intent(self, intent_id, status, note=None):
    out = real_set_intent(self, intent_id, status, note)
    if point == "intent":
        os.kill(os.getpid(), signal.SIGKILL)  # both rows written, the commit not yet run
    return out

Journal.mark, Journal.set_intent = mark, set_intent
sender = Sender(connect(url), Account.from_key(key), Journal(path), CAPS, poll_s=0.02)
sender.send_and_wait(
    sender.journal.open_intent([token], 0), Web3.to_checksum_address(token),
    bytes.fromhex(data), 120_000,
)
print("still alive")
"""


@pytest.mark.parametrize("point", ["mined", "intent"])
def test_a_sigkill_while_a_mined_nonce_is_booked_settles_it_once_after_a_restart(
    anvil_chain: Chain, tmp_path: Path, point: str
) -> None:
    r = make_rig(anvil_chain, tmp_path)
    url = r.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    args = [url, r.key, r.token.address, str(r.journal_path), r.mint_data(5).hex(), point]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert child.returncode == -9, child.stderr[-2000:]
    assert r.nonce() == 1
    assert r.minted() == 5
    # What the dead process left: the nonce pending, its intent open (the write never committed).
    left = Journal(r.journal_path)
    assert [t.status for t in left.pending(r.keeper.address)] == [TxStatus.SENT]
    assert [i.status for i in left.intents()] == [IntentStatus.OPEN]
    left.close()

    s = r.sender()
    report = s.reconcile()
    assert (report.mined, report.rebroadcast, report.dropped) == (1, 0, 0)
    (done,) = s.take_reconciled()  # for the settle step to book, once
    assert done.status is TxStatus.MINED
    assert done.nonce == 0
    assert s.take_reconciled() == []
    assert s.journal.pending(r.keeper.address) == []
    assert [i.status for i in s.journal.intents()] == [IntentStatus.MINED]
    assert s.journal.tx(done.tx_hash).gas_used == done.gas_used
    # Nothing sent twice, and the next send takes the next nonce.
    nxt = s.send_and_wait(s.journal.open_intent([r.token.address], 0), r.token.address,
                          r.mint_data(1), 120_000)  # fmt: skip
    assert nxt.nonce == 1
    assert r.nonce() == 2
    assert r.minted() == 6
