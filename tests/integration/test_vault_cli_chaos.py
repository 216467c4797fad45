"""Every `keeper vault` action through the chaos proxy: a result, or one line of error."""

from __future__ import annotations

import os

import pytest

from bench.chaos.proxy import EXTRA_KINDS, FAULT_KINDS, FaultProxy
from keeper.chain.anvil import ANVIL_KEYS
from keeper.cli import main
from tests.integration import test_vault_cli as vault_cli
from tests.integration.test_vault_cli import Env, _close_exits, _queue

pytestmark = pytest.mark.integration

# The devnet stack of test_vault_cli.py (one per module), each test's changes rolled back.
built, env, e = vault_cli.built, vault_cli.env, vault_cli.e

STEPS = [
    ("deposit", "--amount", "100"),
    ("withdraw", "--amount", "10"),
    ("redeem", "--shares", "5"),
    ("request-redeem", "--shares", "5"),
    ("fill",),
    ("claim",),
    ("info",),
]


@pytest.mark.parametrize("seed", range(int(os.environ.get("VAULT_CHAOS_SEEDS", "6"))))
def test_actions_under_faults_end_in_one_line(
    e: Env, seed: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each action through a proxy that fails 30% of the RPC requests (timeouts, dropped
    connections, error answers, delays): it succeeds or stops with one line, never a traceback
    or the key. A send the faults cut short leaves its record for the next action, which says
    what became of it.

    Instant exits are closed around ``request-redeem`` (the desk's call and a stale round), so
    the request goes through the queue, as a holder's does when the vault cannot pay at once:
    refused as payable now, it would test nothing."""
    monkeypatch.setenv("KEEPER_RPC_TIMEOUT_S", "1")
    monkeypatch.setenv("KEEPER_RECEIPT_TIMEOUT_S", "20")
    bad: list[str] = []
    with FaultProxy(
        e.node.url, rate=0.3, kinds=FAULT_KINDS + EXTRA_KINDS, seed=seed, delay_s=1.5
    ) as proxy:
        reopen = None
        for step in STEPS:
            if step[0] == "request-redeem":
                reopen = _close_exits(e)
            code = main(
                [
                    "vault",
                    step[0],
                    "--vault",
                    e.vault.address,
                    "--rpc-url",
                    proxy.url,
                    "--env-file",
                    os.devnull,
                    *step[1:],
                ]
            )
            out = capsys.readouterr()
            if ANVIL_KEYS[6][2:] in out.out + out.err:
                bad.append(f"{step}: key printed")
            lines = out.err.strip().splitlines()
            if (code != 0 and len(lines) != 1) or "Traceback" in out.err:
                bad.append(f"{step}: exit {code}: {out.err[-1500:]}")
            print(step[0], code, out.err.strip()[-300:])
            if step[0] == "request-redeem":
                if "can pay all" in out.err:
                    bad.append(f"{step}: refused as payable now: {out.err.strip()}")
                assert reopen is not None
                reopen()
                if code == 0:
                    me = e.depositor.address
                    queued = _queue(e).functions.pendingRedeemRequest(0, me).call()
                    if queued != 5 * 10**12:
                        bad.append(f"{step}: exit 0 but {queued} shares pending")
    assert not bad, "\n".join(bad)
