"""Settings: env and .env loading, addresses files, signer loading, one-line ConfigErrors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from keeper.errors import ConfigError
from keeper.settings import PROJECT_ENV_EXAMPLE, Settings, load_settings

KEY = "0x" + "4c" * 32
VAULT_A = "0x" + "a1" * 20
VAULT_B = "0x" + "b2" * 20


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("KEEPER_") and name != "KEEPER_ARTIFACTS_DIR":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_dry_run() -> None:
    s = load_settings(env_file=None)
    assert s.dry_run
    assert s.signer() is None
    assert s.rpc_urls == ["http://127.0.0.1:8545"]


def test_env_vars_are_read_with_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_VAULTS", f"{VAULT_A}, {VAULT_B.upper().replace('0X', '0x')}")
    monkeypatch.setenv("KEEPER_CHAIN_ID", "31337")
    monkeypatch.setenv("KEEPER_RPC_URL", "ws://127.0.0.1:1,http://127.0.0.1:2")
    s = load_settings(env_file=None)
    assert s.chain_id == 31337
    assert len(s.vaults) == 2
    assert all(re.fullmatch(r"0x[0-9a-fA-F]{40}", v) for v in s.vaults)
    assert s.vaults[0] != VAULT_A  # checksummed
    assert s.vaults[0].lower() == VAULT_A
    assert s.rpc_urls == ["ws://127.0.0.1:1", "http://127.0.0.1:2"]


def test_several_rpc_urls_and_a_send_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_RPC_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("KEEPER_RPC_URLS", "http://127.0.0.1:2, https://rpc.example/v3/key")
    monkeypatch.setenv("KEEPER_SEND_RPC_URL", "https://private.example")
    s = load_settings(env_file=None)
    assert s.rpc_urls == ["http://127.0.0.1:2", "https://rpc.example/v3/key"]
    assert s.send_rpc_url == "https://private.example"
    # An explicit --rpc-url wins over KEEPER_RPC_URLS.
    assert load_settings(env_file=None, rpc_url="http://127.0.0.1:9").rpc_urls == [
        "http://127.0.0.1:9"
    ]
    monkeypatch.setenv("KEEPER_SEND_RPC_URL", "ftp://nope")
    with pytest.raises(ConfigError, match="KEEPER_SEND_RPC_URL: unsupported RPC URL scheme"):
        load_settings(env_file=None)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    env = tmp_path / "custom.env"
    env.write_text(f"KEEPER_LENS={VAULT_A}\nKEEPER_CONFIRMATIONS=3\n")
    s = load_settings(env_file=env)
    assert s.lens is not None
    assert s.lens.lower() == VAULT_A
    assert s.confirmations == 3


def test_a_dotenv_line_holding_only_a_pasted_key_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    """python-dotenv reads a bare word as a name with no value: a line holding only the pasted
    key (without ``KEEPER_PRIVATE_KEY=``) was ignored, and the keeper ran as a dry run."""
    env = tmp_path / "custom.env"
    env.write_text(f"KEEPER_CONFIRMATIONS=3\n{KEY[2:]}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=env)
    assert str(info.value) == (
        f"{env} line 2 is not a KEY=VALUE line (not shown: it may hold a secret)"
    )
    assert KEY[2:] not in str(info.value)


def test_a_setting_given_twice_in_the_dotenv_file_is_refused(tmp_path: Path) -> None:
    """The last of two ``KEEPER_PRIVATE_KEY`` lines signed, silently."""
    env = tmp_path / "custom.env"
    env.write_text(f"KEEPER_PRIVATE_KEY={KEY}\nKEEPER_CONFIRMATIONS=3\nkeeper_private_key={KEY}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=env)
    assert str(info.value) == (
        f"{env} sets KEEPER_PRIVATE_KEY twice (lines 1 and 3): keep one (not shown: it may "
        "hold a secret)"
    )


def test_an_empty_env_var_overrides_the_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # .env.example: "real environment variables override this file". An empty one did not: the
    # file's key still signed, so `KEEPER_PRIVATE_KEY= keeper run` was not a dry run. Empty
    # means unset, and the environment wins over the file.
    env = tmp_path / "op.env"
    env.write_text(f"KEEPER_PRIVATE_KEY={KEY}\nKEEPER_CHAIN_ID=10\nKEEPER_CONFIRMATIONS=3\n")
    assert load_settings(env_file=env).signer() is not None
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "")
    monkeypatch.setenv("keeper_chain_id", "")
    s = load_settings(env_file=env)
    assert s.signer() is None
    assert s.dry_run
    assert s.chain_id is None
    assert s.confirmations == 3  # the file's other values still apply


def test_malformed_vault_address_is_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_VAULTS", f"{VAULT_A},0x1234")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("KEEPER_VAULTS:")
    assert "'0x1234' is not a 20-byte hex address" in msg


def test_malformed_lens_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_LENS", "not-an-address")
    with pytest.raises(ConfigError, match=r"KEEPER_LENS: .*not a 20-byte hex address"):
        load_settings(env_file=None)


def _miscased(address: str) -> str:
    """``address`` (checksummed) with one letter's case flipped: a broken EIP-55 checksum."""
    i = next(i for i, c in enumerate(address) if i > 1 and c.isalpha())
    return address[:i] + address[i].swapcase() + address[i + 1 :]


def test_a_mixed_case_address_with_a_wrong_checksum_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Mixed case is an EIP-55 checksum: one that does not match is most likely a typo, and was
    # re-cased without a word into an address nobody meant.
    from keeper.settings import checksum

    good = Web3.to_checksum_address("0x94cd5a6e2b5d2e0b1e6e2f3a6f4b1c9d8e7f6172")
    bad = _miscased(good)
    with pytest.raises(ConfigError, match=r"--vault: .* EIP-55 checksum .*typo"):
        checksum(bad, "--vault")
    monkeypatch.setenv("KEEPER_LENS", bad)
    with pytest.raises(ConfigError, match=r"^KEEPER_LENS: .*EIP-55 checksum"):
        load_settings(env_file=None)
    # all lower or all upper case carries no checksum and is taken as it is
    assert checksum(good.lower(), "--vault") == good
    assert checksum("0x" + good[2:].upper(), "--vault") == good
    assert checksum(good, "--vault") == good
    assert checksum(good[2:], "--vault") == good  # without its 0x, checked all the same
    with pytest.raises(ConfigError, match="EIP-55"):
        checksum(bad[2:], "--vault")


def test_duplicate_vault_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_VAULTS", f"{VAULT_A},{VAULT_A}")
    with pytest.raises(ConfigError, match="listed twice"):
        load_settings(env_file=None)


def test_unsupported_rpc_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_RPC_URL", "ftp://x")
    with pytest.raises(ConfigError, match="KEEPER_RPC_URL: unsupported RPC URL scheme 'ftp'"):
        load_settings(env_file=None)


def test_private_key_signer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", KEY)
    s = load_settings(env_file=None)
    assert not s.dry_run
    signer = s.signer()
    assert signer is not None
    assert signer.address == Account.from_key(KEY).address
    assert KEY not in repr(s)
    assert KEY not in str(s.model_dump())


@pytest.mark.parametrize(
    "bad",
    # Not hex; and one hex digit short or long: eth_account pads an odd-length hex string with
    # a leading zero, so a key that lost its last digit in a copy and paste signed as another
    # account instead of being refused.
    ["0x" + "zz" * 32, KEY[:-1], KEY[2:-1], KEY + "4"],
    ids=["not-hex", "short", "bare-short", "long"],
)
def test_bad_private_key_error_hides_the_key(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", bad)
    s = load_settings(env_file=None)
    with pytest.raises(ConfigError) as info:
        s.signer()
    assert "not a valid 32-byte hex private key" in str(info.value)
    assert bad not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_keystore_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "hunter22", kdf="pbkdf2", iterations=2)))
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", str(path))
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "hunter22")
    signer = load_settings(env_file=None).signer()
    assert signer is not None
    assert signer.address == Account.from_key(KEY).address


def test_keystore_wrong_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "right-pass", kdf="pbkdf2", iterations=2)))
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", str(path))
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "wrong-pass")
    with pytest.raises(ConfigError, match=f"wrong password for keystore {path}") as info:
        load_settings(env_file=None).signer()
    assert "wrong-pass" not in str(info.value)


def test_keystore_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", str(tmp_path / "nope.json"))
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "x")
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env_file=None).signer()


def test_keystore_not_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key.json"
    path.write_text("garbage")
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", str(path))
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "x")
    with pytest.raises(ConfigError, match="not a JSON keystore"):
        load_settings(env_file=None).signer()


def test_keystore_needs_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", str(tmp_path / "k.json"))
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert str(info.value) == "KEEPER_KEYSTORE_PATH needs KEEPER_KEYSTORE_PASSWORD"


def test_key_and_keystore_together_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", KEY)
    monkeypatch.setenv("KEEPER_KEYSTORE_PATH", "/x.json")
    monkeypatch.setenv("KEEPER_KEYSTORE_PASSWORD", "x")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert str(info.value) == "set either KEEPER_PRIVATE_KEY or KEEPER_KEYSTORE_PATH, not both"
    assert KEY not in str(info.value)


def test_a_tip_cap_above_the_fee_cap_names_both_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_MAX_FEE_PER_GAS_WEI", "10")
    monkeypatch.setenv("KEEPER_MAX_PRIORITY_FEE_WEI", "11")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert str(info.value) == "KEEPER_MAX_PRIORITY_FEE_WEI exceeds KEEPER_MAX_FEE_PER_GAS_WEI"


@pytest.mark.parametrize(("tip", "cap"), [("8", "8"), ("9", "8"), ("800", "899")])
def test_a_tip_without_room_for_a_replacement_under_its_cap_is_refused(
    monkeypatch: pytest.MonkeyPatch, tip: str, cap: str
) -> None:
    """A replacement raises the tip by 12.5% (rounded up, ``bump_fees``): at or near its cap, a
    stuck transaction could never be replaced, and the keeper would find out only then."""
    monkeypatch.setenv("KEEPER_PRIORITY_FEE_WEI", tip)
    monkeypatch.setenv("KEEPER_MAX_PRIORITY_FEE_WEI", cap)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert str(info.value) == (
        f"KEEPER_PRIORITY_FEE_WEI ({tip}) leaves no room under KEEPER_MAX_PRIORITY_FEE_WEI "
        f"({cap}) for a replacement's 12.5% bump: a stuck transaction could never be replaced"
    )


def test_a_tip_with_room_for_one_replacement_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_PRIORITY_FEE_WEI", "800")
    monkeypatch.setenv("KEEPER_MAX_PRIORITY_FEE_WEI", "900")  # 800 * 1.125 = 900
    assert load_settings(env_file=None).cycle.priority_fee_wei == 800


def test_addresses_file_overrides_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_LENS", VAULT_B)
    f = tmp_path / "devnet.json"
    f.write_text(
        json.dumps({"lens": VAULT_A, "batcher": VAULT_B, "vaults": [VAULT_A], "chainId": 31337})
    )
    s = load_settings(env_file=None, addresses=f)
    assert s.lens is not None
    assert s.lens.lower() == VAULT_A
    assert s.chain_id == 31337
    assert [v.lower() for v in s.vaults] == [VAULT_A]
    assert s.addresses_file == f


def test_addresses_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env_file=None, addresses=tmp_path / "none.json")


def test_addresses_file_bad_address(tmp_path: Path) -> None:
    f = tmp_path / "devnet.json"
    f.write_text(json.dumps({"batcher": "0xdead"}))
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None, addresses=f)
    # named by the file that holds it, not by KEEPER_BATCHER, which nobody set
    assert str(info.value).startswith(f"{f}: batcher: ")


def test_a_bad_flag_is_named_as_the_flag_not_its_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    # --rpc-url sets rpc_url and, from it, rpc_urls: one mistake, reported once, by the flag.
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None, rpc_url="notaurl", flags={"rpc_url": "--rpc-url"})
    msg = str(info.value)
    assert msg == (
        "--rpc-url: RPC URL has no scheme: write it with http://, https://, ws:// or wss:// "
        "(e.g. http://127.0.0.1:8545)"
    )
    # The same value from the environment is still named by its env var.
    monkeypatch.setenv("KEEPER_RPC_URL", "notaurl")
    with pytest.raises(ConfigError, match=r"^KEEPER_RPC_URL: RPC URL has no scheme"):
        load_settings(env_file=None, flags={"rpc_url": "--rpc-url"})


def test_an_rpc_url_without_its_scheme_says_so() -> None:
    # "127.0.0.1:8545" was "unsupported RPC URL scheme '127.0.0.'": the first 8 characters.
    with pytest.raises(ConfigError, match="KEEPER_RPC_URL: RPC URL has no scheme") as info:
        load_settings(env_file=None, rpc_url="127.0.0.1:8545")
    assert "'127.0.0.'" not in str(info.value)
    with pytest.raises(ConfigError, match="unsupported RPC URL scheme 'ftp'"):
        load_settings(env_file=None, rpc_url="ftp://127.0.0.1:8545")


def test_every_validation_error_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_CONFIRMATIONS", "0")
    monkeypatch.setenv("KEEPER_LENS", "not-an-address")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    msg = str(info.value)
    assert "more)" not in msg
    assert "\n" not in msg
    assert "KEEPER_CONFIRMATIONS: " in msg
    assert "KEEPER_LENS: " in msg
    assert "; " in msg


def test_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_POLICY", "band:width=0.1")
    s = load_settings(env_file=None, policy="ww:risk_aversion=2")
    assert s.policy == "ww:risk_aversion=2"


def test_out_of_range_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_CONFIRMATIONS", "0")
    with pytest.raises(ConfigError, match="KEEPER_CONFIRMATIONS"):
        load_settings(env_file=None)


def test_env_example_documents_every_field() -> None:
    text = PROJECT_ENV_EXAMPLE.read_text()
    names = set(re.findall(r"^(KEEPER_[A-Z0-9_]+)=", text, flags=re.M))
    expected = {f"KEEPER_{name.upper()}" for name in Settings.model_fields}
    assert expected - names == set(), "fields missing from .env.example"
    assert names - expected == set(), ".env.example documents unknown variables"


def test_env_example_holds_no_secret_and_loads() -> None:
    text = PROJECT_ENV_EXAMPLE.read_text()
    values = dict(re.findall(r"^(KEEPER_[A-Z0-9_]+)=(.*)$", text, flags=re.M))
    for secret in ("KEEPER_PRIVATE_KEY", "KEEPER_KEYSTORE_PASSWORD", "KEEPER_ALERT_WEBHOOK_URL"):
        assert values[secret] == ""
    assert not re.search(r"0x[0-9a-fA-F]{64}", text)
    s = load_settings(env_file=PROJECT_ENV_EXAMPLE)
    assert s.dry_run


def test_cycle_config_is_read_from_the_flat_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_GAS_FIXED", "12345")
    monkeypatch.setenv("KEEPER_PRIORITY_FEE_WEI", "7")
    s = load_settings(env_file=None)
    assert s.cycle.gas_fixed == 12345
    assert s.cycle.priority_fee_wei == 7
    assert set(type(s.cycle).model_fields) <= set(Settings.model_fields)
    assert s.cycle.ewma_lambda == Settings.model_fields["ewma_lambda"].default == 0.94


def test_an_env_value_the_addresses_file_overrides_does_not_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file's rpc_url wins over KEEPER_RPC_URL(S): their values are never used, so a bad one
    # must not make the command fail.
    monkeypatch.setenv("KEEPER_RPC_URL", "notaurl")
    monkeypatch.setenv("KEEPER_RPC_URLS", "alsonot")
    monkeypatch.setenv("KEEPER_LENS", "not-an-address")
    f = tmp_path / "devnet.json"
    f.write_text(json.dumps({"rpc_url": "http://127.0.0.1:8545", "lens": VAULT_A}))
    s = load_settings(env_file=None, addresses=f)
    assert s.rpc_url == "http://127.0.0.1:8545"
    assert s.rpc_urls == ["http://127.0.0.1:8545"]
    assert s.lens is not None
    assert s.lens.lower() == VAULT_A


def test_an_env_value_a_flag_overrides_does_not_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_RPC_URL", "notaurl")
    s = load_settings(env_file=None, rpc_url="http://127.0.0.1:1", flags={"rpc_url": "--rpc-url"})
    assert s.rpc_urls == ["http://127.0.0.1:1"]
    # A bad env value nothing overrides still fails, named by its env var.
    monkeypatch.setenv("KEEPER_CONFIRMATIONS", "0")
    with pytest.raises(ConfigError, match=r"^KEEPER_CONFIRMATIONS: "):
        load_settings(env_file=None, rpc_url="http://127.0.0.1:1")


def test_a_bad_addresses_file_path_in_the_env_is_overridden_by_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEEPER_ADDRESSES_FILE", str(tmp_path / "none.json"))
    f = tmp_path / "devnet.json"
    f.write_text(json.dumps({"chain_id": 31337, "lens": VAULT_A}))
    s = load_settings(env_file=None, addresses=f)
    assert s.chain_id == 31337
    assert s.addresses_file == f


def test_a_malformed_chain_id_guard_is_refused_even_when_the_file_gives_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # KEEPER_CHAIN_ID is checked against the file's chain id, not overridden by it: a typo there
    # used to drop that check without a word.
    monkeypatch.setenv("KEEPER_CHAIN_ID", "abc")
    f = tmp_path / "devnet.json"
    f.write_text(json.dumps({"chain_id": 31337, "lens": VAULT_A}))
    with pytest.raises(ConfigError, match=r"^KEEPER_CHAIN_ID 'abc' is not a number"):
        load_settings(env_file=None, addresses=f)


@pytest.mark.parametrize(
    "name",
    ["KEEPER_POLL_INTERVAL_S", "KEEPER_RPC_TIMEOUT_S", "KEEPER_IMPACT_COEF", "KEEPER_ETH_USD"],
)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity"])
def test_a_float_setting_that_is_not_finite_is_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    # inf passed every bound: a poll interval of inf never woke the loop (or overflowed the
    # wait), a timeout of inf hung a read, an impact of inf made every cost inf.
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert str(info.value) == f"{name}: Input should be a finite number"


def test_a_poll_interval_past_an_hour_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1e10 was accepted: the keeper ran one cycle and never polled again.
    monkeypatch.setenv("KEEPER_POLL_INTERVAL_S", "1e10")
    with pytest.raises(ConfigError, match=r"^KEEPER_POLL_INTERVAL_S: .*less than or equal to 3600"):
        load_settings(env_file=None)
    monkeypatch.setenv("KEEPER_POLL_INTERVAL_S", "3600")
    assert load_settings(env_file=None).poll_interval_s == 3600


def test_an_rpc_endpoint_listed_twice_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Health, failover and the hedged second read would treat one node as two.
    monkeypatch.setenv(
        "KEEPER_RPC_URLS", "https://rpc.example/v3/KEY, http://b:2, https://rpc.example/v3/KEY"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert str(info.value) == "KEEPER_RPC_URLS: endpoint 3 is listed twice (it is endpoint 1)"
    monkeypatch.delenv("KEEPER_RPC_URLS")
    monkeypatch.setenv("KEEPER_RPC_URL", "http://a:1,http://a:1")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert str(info.value) == "KEEPER_RPC_URL: endpoint 2 is listed twice (it is endpoint 1)"


@pytest.mark.parametrize(
    ("name", "text", "field", "value"),
    [
        # Refused as "unable to parse string as an integer", though the backtest's gas and wei
        # flags take the same numbers written so.
        ("KEEPER_LOW_BALANCE_WEI", "1e16", "low_balance_wei", 10**16),
        ("KEEPER_MAX_FEE_PER_GAS_WEI", "2.5e9", "max_fee_per_gas_wei", 2_500_000_000),
        ("KEEPER_PRIORITY_FEE_WEI", "1_000_000", "priority_fee_wei", 1_000_000),
    ],
)
def test_an_int_setting_takes_a_whole_number_written_with_an_exponent(
    monkeypatch: pytest.MonkeyPatch, name: str, text: str, field: str, value: int
) -> None:
    monkeypatch.setenv(name, text)
    assert getattr(load_settings(env_file=None), field) == value


@pytest.mark.parametrize("text", ["1.5e0", "1e-3", "abc"])
def test_an_int_setting_still_refuses_what_is_not_a_whole_number(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("KEEPER_LOW_BALANCE_WEI", text)
    with pytest.raises(ConfigError, match=r"^KEEPER_LOW_BALANCE_WEI: Input should be a valid"):
        load_settings(env_file=None)
