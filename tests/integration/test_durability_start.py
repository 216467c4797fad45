"""``keeper run`` at start-up, on the real devnet: a journal it cannot trust stops it in one line.

Nothing is signed before the check: the account's nonce stays 0 while vaults are out of band (a
keeper that ran would send a batch).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from keeper.chain.anvil import ANVIL_KEYS
from keeper.devnet.stack import write_addresses
from keeper.execution.journal import Journal, TxStatus
from tests.integration import test_keeper_e2e
from tests.integration.test_keeper_e2e import Stack, _error_lines, _keeper_cli
from tests.unit.test_durability_damaged import journal_with_history

pytestmark = pytest.mark.integration


# The devnet stack of test_keeper_e2e.py (one per module), each test's changes rolled back.
built, stack = test_keeper_e2e.built, test_keeper_e2e.stack


#: Another signer's history: the damaged pages are rows the keeper's own reads never touch.
OTHER = "0x" + "11" * 20


def _addresses(stack: Stack, tmp_path: Path) -> Path:
    addresses = tmp_path / "devnet.json"
    write_addresses(addresses, stack.devnet, stack.node.url)
    return addresses


def _bound_journal_with_history(stack: Stack, path: Path, rows: int = 400) -> None:
    genesis = Web3.to_hex(stack.w3.eth.get_block(0)["hash"])
    journal_with_history(path, rows, account=OTHER, chain=(31337, genesis))


def test_a_damaged_journal_stops_keeper_run_in_one_line_before_any_send(
    stack: Stack, tmp_path: Path
) -> None:
    """A page of the journal zeroed (a disk, a torn copy): the keeper ran, and hedged, on it."""
    assert stack.out_of_band()
    addresses = _addresses(stack, tmp_path)
    path = tmp_path / "journal.sqlite"
    _bound_journal_with_history(stack, path)
    with path.open("r+b") as fh:
        fh.seek(4096 * 20)
        fh.write(b"\0" * 4096)
    code, err, _ = _keeper_cli(
        tmp_path, "run", "--addresses", str(addresses), "--max-cycles", "1",
        "--journal", str(path), key=ANVIL_KEYS[3],
    )  # fmt: skip
    assert code == 1, err[-2000:]
    (line,) = _error_lines(err)
    assert f"journal {path} is damaged (database disk image is malformed)" in line
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 0


def test_a_second_keeper_with_the_same_key_and_another_journal_stops_in_one_line(
    stack: Stack, tmp_path: Path
) -> None:
    """Two ``keeper run`` with one key, each with its own journal: the journal's claim did not
    see it, both sent the same batch at two nonces, and the second was mined failing every vault
    (``OptionVaultTooSoon``): gas spent for nothing, and failures booked by a keeper whose own
    journal said nothing was in flight. The signer is claimed too, on this machine."""
    import os
    import subprocess
    import sys

    assert stack.out_of_band()
    addresses = _addresses(stack, tmp_path)
    first = tmp_path / "first.sqlite"
    holder = Journal(first)
    holder.claim()
    holder.bind_chain(31337, Web3.to_hex(stack.w3.eth.get_block(0)["hash"]))
    holder.claim_signer(stack.keeper.address)
    try:
        code, err, _ = _keeper_cli(
            tmp_path, "run", "--addresses", str(addresses), "--max-cycles", "1",
            "--journal", str(tmp_path / "second.sqlite"), key=ANVIL_KEYS[3],
        )  # fmt: skip
        # Another key is not held by it.
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "from keeper.execution.journal import Journal; j = Journal(':memory:'); "
                f"j2 = Journal({str(tmp_path / 'third.sqlite')!r}); "
                f"j2.bind_chain(31337, {Web3.to_hex(stack.w3.eth.get_block(0)['hash'])!r}); "
                f"j2.claim_signer({'0x' + '77' * 20!r}); print('ok')",
            ],
            capture_output=True,
            text=True,
        )
        assert other.stdout.strip() == "ok", other.stderr
    finally:
        holder.close()
    assert code == 1, err[-2000:]
    (line,) = _error_lines(err)
    assert f"signer {stack.keeper.address} is in use by another keeper" in line
    assert f"pid {os.getpid()}" in line
    assert str(first) in line  # the journal the other keeper uses
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 0
    code, err, _ = _keeper_cli(
        tmp_path, "run", "--addresses", str(addresses), "--max-cycles", "1",
        "--journal", str(tmp_path / "second.sqlite"), key=ANVIL_KEYS[3],
    )  # fmt: skip
    assert code == 0, err[-2000:]  # released with the holder's journal: it runs, and hedges
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 1


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_during_the_send_finishes_the_send_and_journals_it(
    stack: Stack, tmp_path: Path, signame: str
) -> None:
    """A service manager's SIGTERM (or a Ctrl-C) that lands while the batch is being broadcast:
    the keeper stops after the cycle, the batch sent and mined once, the journal saying so (no
    signed-but-unknown row, nothing pending), exit 0."""
    import os
    import subprocess
    import sys

    assert stack.out_of_band()
    addresses = _addresses(stack, tmp_path)
    path = tmp_path / "journal.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    env.update(KEEPER_PRIVATE_KEY=ANVIL_KEYS[3], KEEPER_POLICY="band:width=0.0001")
    code = (
        "import os, signal, sys\n"
        "from web3.eth import Eth\n"
        "real = Eth.send_raw_transaction\n"
        "def send(self, raw):\n"
        f"    os.kill(os.getpid(), signal.{signame})\n"
        "    return real(self, raw)\n"
        "Eth.send_raw_transaction = send\n"
        "from keeper.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "run", "--addresses", str(addresses), "--journal",
         str(path), "--env-file", os.devnull],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "keeper stopped after 1 cycle" in done.stderr
    assert stack.w3.eth.get_transaction_count(stack.keeper.address) == 1
    journal = Journal(path)
    assert journal.pending() == []
    (tx,) = journal.recent()
    assert tx.status is TxStatus.MINED
    assert [i.status.value for i in journal.intents()] == ["mined"]
