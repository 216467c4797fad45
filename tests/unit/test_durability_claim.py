"""The journal's claim holds whatever name the journal is opened by.

A claim is the one lock that keeps two signing keepers off one journal; it must not depend on
how the path is spelled.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from keeper.errors import ConfigError
from keeper.execution.journal import Journal


@contextmanager
def held_by_a_child(path: Path) -> Iterator[int]:
    """A child process that holds the claim of the journal at ``path``: its pid."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from keeper.execution.journal import Journal; "
            f"Journal({str(path)!r}).claim(); print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        yield child.pid
    finally:
        child.kill()
        child.wait()


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A child process that holds the claim of ``tmp_path/journal.sqlite``: (path, its pid)."""
    path = tmp_path / "journal.sqlite"
    with held_by_a_child(path) as pid:
        yield path, pid


def test_a_journal_claimed_under_its_own_name_is_refused_through_a_symlink(
    holder: tuple[Path, int], tmp_path: Path
) -> None:
    """``/srv/keeper/journal.sqlite -> /data/journal.sqlite``: one keeper started with the link,
    another with the file. SQLite follows the link (one database, one WAL), so both signed from
    one journal, each under its own ``<name>.lock``."""
    path, pid = holder
    link = tmp_path / "link.sqlite"
    link.symlink_to(path)
    with pytest.raises(ConfigError, match=rf"in use by another keeper \(pid {pid}\)"):
        Journal(link).claim()


def test_a_symlink_claimed_first_keeps_the_file_itself_out(tmp_path: Path) -> None:
    real = tmp_path / "data" / "journal.sqlite"
    Journal(real).close()
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    first = Journal(link)
    first.claim()
    code = (
        "from keeper.execution.journal import Journal\n"
        "from keeper.errors import ConfigError\n"
        f"try:\n    Journal({str(real)!r}).claim()\nexcept ConfigError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"in use by another keeper (pid {os.getpid()})" in out.stdout
    first.close()


def test_a_journal_with_a_second_hard_link_is_refused_at_the_claim(tmp_path: Path) -> None:
    """A hard link is a second name SQLite does not resolve: each name has its own WAL beside
    it, so a keeper on one name does not see what the other journaled (and each has its own
    lock). Refused at the claim, naming the fix; a reader is not refused."""
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    other = tmp_path / "copy.sqlite"
    os.link(path, other)
    for name in (path, other):
        journal = Journal(name)
        with pytest.raises(ConfigError) as info:
            journal.claim()
        message = str(info.value)
        assert message.startswith(f"journal {name} has 2 hard links"), message
        assert "\n" not in message
        journal.close()
    other.unlink()
    journal = Journal(path)
    journal.claim()  # one name again
    journal.close()


GENESIS = "0x" + "ab" * 32
SIGNER = "0x" + "5c" * 20


def _claim_signer_in_child(path: Path, chain_id: int = 31337, genesis: str = GENESIS) -> str:
    """Claim ``SIGNER`` from a fresh process over the journal ``path``: 'ok' or the error."""
    code = (
        "from keeper.execution.journal import Journal\n"
        "from keeper.errors import ConfigError\n"
        f"j = Journal({str(path)!r}); j.bind_chain({chain_id}, {genesis!r})\n"
        f"try:\n    j.claim_signer({SIGNER!r}); print('ok')\n"
        "except ConfigError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_signer_is_claimed_once_per_chain_whatever_the_journal(tmp_path: Path) -> None:
    """Two keepers with one key and a journal each both sent the batch: the second journal
    passed its own claim. The signer's claim is per chain (id and genesis) and address."""
    mine = Journal(tmp_path / "mine.sqlite")
    mine.bind_chain(31337, GENESIS)
    mine.claim_signer(SIGNER)
    mine.claim_signer(SIGNER)  # idempotent
    refused = _claim_signer_in_child(tmp_path / "other.sqlite")
    assert refused.startswith(f"signer {SIGNER} is in use by another keeper on this machine ")
    assert f"(pid {os.getpid()}, journal {tmp_path / 'mine.sqlite'})" in refused
    # Another chain (a second devnet: same id, another genesis) is another claim.
    assert _claim_signer_in_child(tmp_path / "devnet2.sqlite", genesis="0x" + "cd" * 32) == "ok"
    assert _claim_signer_in_child(tmp_path / "chain1.sqlite", chain_id=1) == "ok"
    mine.close()  # released with the journal
    assert _claim_signer_in_child(tmp_path / "other.sqlite") == "ok"


def test_a_signer_claim_needs_a_journal_bound_to_its_chain(tmp_path: Path) -> None:
    unbound = Journal(tmp_path / "journal.sqlite")
    with pytest.raises(ConfigError, match="is not bound to a chain"):
        unbound.claim_signer(SIGNER)
    unbound.close()
    Journal(":memory:").claim_signer(SIGNER)  # nothing on disk to share: a no-op


def test_release_gives_up_both_claims_and_keeps_the_journal_open(tmp_path: Path) -> None:
    """``keep`` run inside a process that goes on (``keeper.cli.main`` in a test) held its
    claims after its loop ended: every later ``keeper run`` with that key was refused."""
    path = tmp_path / "mine.sqlite"
    mine = Journal(path)
    mine.bind_chain(31337, GENESIS)
    mine.claim()
    mine.claim_signer(SIGNER)
    assert _claim_signer_in_child(tmp_path / "other.sqlite").startswith(f"signer {SIGNER} is in")
    mine.release()
    assert _claim_signer_in_child(tmp_path / "other.sqlite") == "ok"
    code = f"from keeper.execution.journal import Journal; Journal({str(path)!r}).claim()"
    subprocess.run([sys.executable, "-c", code], check=True)  # the journal's claim is free too
    assert mine.max_nonce(SIGNER) is None  # still readable
    mine.close()


def test_a_signer_lock_planted_as_a_symlink_is_refused_and_its_target_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signer's lock lives in the shared temporary directory under a name anyone can work
    out; the claim opened it following symlinks and truncated it. Another local user's symlink
    there (where ``fs.protected_symlinks`` is off) made the keeper empty a file of its own
    (helper-125). The lock is now opened without following a link."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "keeper.env"
    victim.write_text("KEEPER_RPC_URL=http://127.0.0.1:8545\n")
    name = f"keeper-signer-31337-{GENESIS[:18]}-{SIGNER.lower()}.lock"
    (tmp_path / name).symlink_to(victim)
    mine = Journal(tmp_path / "mine.sqlite")
    mine.bind_chain(31337, GENESIS)
    with pytest.raises(ConfigError, match="signer's lock file"):
        mine.claim_signer(SIGNER)
    assert victim.read_text() == "KEEPER_RPC_URL=http://127.0.0.1:8545\n"
    mine.close()


def test_a_keeper_refused_its_signer_gives_up_its_journal_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``keep`` took the journal's claim (wiring), then was refused the signer's: it raised
    with the journal still claimed, so a caller that goes on (a test, an embedding process)
    held every later keeper on that journal off (helper-125)."""
    from types import SimpleNamespace

    from keeper.app import loop
    from keeper.settings import Settings

    journal = Journal(tmp_path / "journal.sqlite")
    journal.bind_chain(31337, GENESIS)
    journal.claim()

    def refuse(account: str) -> None:
        raise ConfigError(f"signer {account} is in use by another keeper on this machine")

    monkeypatch.setattr(journal, "claim_signer", refuse)
    keeper = SimpleNamespace(sender=SimpleNamespace(journal=journal, address=SIGNER))
    monkeypatch.setattr(loop, "connect_keeper", lambda settings, dry_run: keeper)
    with pytest.raises(ConfigError, match="is in use by another keeper"):
        loop.keep(Settings(metrics_port=0))
    code = f"from keeper.execution.journal import Journal; Journal({str(journal.path)!r}).claim()"
    subprocess.run([sys.executable, "-c", code], check=True)  # free again
    journal.close()
