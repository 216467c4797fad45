"""SIGKILL of a sending process at each point of a send, a bump or a cancel; then a restart.

The chaos suite kills ``keeper run`` at its first send (before and after the node took it) and
at random. Here a real process (:mod:`tests.integration.kill_child`) is SIGKILLed at six points,
including while a *replacement* is pending -- a bump or a cancel journaled but not yet broadcast,
or broadcast but not yet marked sent -- and, in a second variant, the node mines what it held
while the process is down. A fresh sender over the same journal then reconciles. Whatever the
point: exactly one transaction is mined at the nonce (the mint happened once, or not at all for a
cancel), the journal has nothing pending and one intent, and the next send takes the next nonce
(no gap, no reuse).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from keeper.execution.journal import IntentStatus, Journal, TxStatus
from tests.conftest import Chain
from tests.integration.test_execution_sender import Rig, make_rig

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
#: (point, the node mines what it holds while the process is down). Anvil evicts a version whose
#: max fee fell under the base fee, so after a ``-journaled`` replacement point it holds nothing
#: to mine; after a ``-broadcast`` one it holds the replacement. The first send's two points are
#: the suite's ``signed`` and ``sent`` kills; the one the suite cannot stage is kept here.
CASES = (
    ("first-broadcast", True),
    ("replacement-journaled", False),
    ("replacement-broadcast", False),
    ("replacement-broadcast", True),
    ("cancel-journaled", False),
    ("cancel-broadcast", False),
    ("cancel-broadcast", True),
)


def kill_at(r: Rig, point: str, amount: int) -> None:
    argv = [sys.executable, "-m", "tests.integration.kill_child"]
    argv += [r.w3.provider.endpoint_uri, r.key, r.token.address, str(r.journal_path)]  # type: ignore[attr-defined]
    proc = subprocess.run(
        [*argv, point, str(amount)], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-2000:])


@pytest.mark.parametrize(
    ("point", "mined_while_down"),
    CASES,
    ids=[f"{p}-{'mined-while-down' if m else 'pool'}" for p, m in CASES],
)
def test_a_sigkill_anywhere_in_a_send_leaves_one_transaction_and_no_gap(
    anvil_chain: Chain, tmp_path: Path, point: str, mined_while_down: bool
) -> None:
    r = make_rig(anvil_chain, tmp_path)
    kill_at(r, point, 5)
    # The base fee falls back under every version's max fee.
    r.rpc("anvil_setNextBlockBaseFeePerGas", hex(10**8))
    if mined_while_down:
        r.rpc("evm_mine")  # the node mines whatever version it holds while nobody watches
    cancelling = point.startswith("cancel")
    s = r.sender(still_valid=(lambda to, data: False) if cancelling else None)
    s.reconcile()
    r.rpc("evm_setIntervalMining", 1)
    outcome = s.wait(0, timeout_s=15)
    assert outcome.status is TxStatus.MINED
    if point.startswith("first"):
        assert outcome.replacements == 0
    assert outcome.cancelled == cancelling
    # One transaction at nonce 0: the mint happened once, or (cancelled) not at all.
    assert r.nonce() == 1
    assert r.minted() == (0 if outcome.cancelled else 5)
    journal = Journal(r.journal_path)
    assert journal.pending(s.address) == []
    assert {t.nonce for t in journal.recent(100)} == {0}
    (intent,) = journal.intents()
    assert intent.status is (IntentStatus.ABANDONED if outcome.cancelled else IntentStatus.MINED)
    # The next send takes nonce 1: no gap, no reuse.
    nxt = r.sender().send_and_wait(
        journal.open_intent([], 0), r.token.address, r.mint_data(1), 120_000
    )
    assert nxt.nonce == 1
    assert r.minted() == (1 if outcome.cancelled else 6)
