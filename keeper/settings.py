"""The keeper's settings: one pydantic-settings class, read from ``KEEPER_*`` env vars and ``.env``.

Load them once, in the CLI, with :func:`load_settings`; every other module receives values, never
this class's globals. Any problem becomes one :class:`~keeper.errors.ConfigError` line that names
the field and never echoes a secret.

Addresses can come from the environment or from a JSON file written by the devnet (``keeper run
--addresses devnet.json``). The file's keys are the field names below (``lens``, ``batcher``,
``vaults``, ``factory``, ``chain_id``, ``rpc_url``; camelCase ``chainId``/``rpcUrl`` are accepted
too); values in the file override the environment, because the flag is the more explicit choice.

With no signer (neither ``KEEPER_PRIVATE_KEY`` nor ``KEEPER_KEYSTORE_PATH``) the keeper runs in
dry-run mode: it observes and decides, and never signs.
"""

from __future__ import annotations

import difflib
import io
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv.parser import parse_stream
from eth_utils.address import is_checksum_address, is_hex_address, to_checksum_address
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from keeper.app.defaults import (
    LIVE_GAS_DIRECT,
    LIVE_GAS_FIRST_BUY,
    LIVE_GAS_FIXED,
    LIVE_GAS_PER_VAULT,
    LIVE_GAS_SWAP,
)
from keeper.arguments import expand_home, file_path, parse_whole, path_form_problem, rpc_url
from keeper.chain.urls import check_rpc_url, check_rpc_urls, lower_scheme, lower_schemes
from keeper.chain.urls import split_rpc_urls as _split_urls
from keeper.errors import ConfigError
from keeper.execution.fees import MIN_BUMP_BPS
from keeper.locations import read_utf8
from keeper.units import mul_div_up

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    # eth_account is imported where a key is loaded: at import it loads eth_keyfile and, through
    # it, py_ecc's BLS tables (~0.7 s), which `keeper status`, `keeper backtest` and every
    # `--help` never need.
    from eth_account.signers.local import LocalAccount

#: Address-file keys (camelCase accepted) mapped to settings fields.
_ADDRESS_FILE_KEYS = {
    "lens": "lens",
    "batcher": "batcher",
    "vaults": "vaults",
    "factory": "factory",
    "chain_id": "chain_id",
    "chainId": "chain_id",
    "rpc_url": "rpc_url",
    "rpcUrl": "rpc_url",
}


#: 64 hex digits in a row: what a private key is, never an address (40).
_KEY_LIKE = re.compile(r"[0-9a-fA-F]{64}")


def _address_problem(text: str) -> str | None:
    """Why ``text`` is not an address to use, or None.

    Mixed case is an EIP-55 checksum: one that does not match is most likely a typo, so it is
    refused rather than re-cased into an address nobody meant. All lower or all upper case
    carries no checksum.
    """
    if not is_hex_address(text):
        if _KEY_LIKE.search(text):
            # A private key pasted into an address setting (KEEPER_SIMULATE_FROM wants the
            # keeper's address, not its key): the error line must not print it.
            return (
                "the value is not a 20-byte hex address: it holds 64 hex digits in a row, as a "
                "private key does (not shown); give the account's address instead"
            )
        return f"{text!r} is not a 20-byte hex address"
    digits = text[2:] if text[:2].lower() == "0x" else text
    mixed = digits not in (digits.lower(), digits.upper())
    if mixed and not is_checksum_address("0x" + digits):
        return (
            f"{text!r} has a mixed-case EIP-55 checksum that does not match (a typo?); "
            "write it in all lower case to skip the check"
        )
    return None


def checksum(value: str, what: str) -> str:
    """Return the checksummed form of an address, or raise ``ConfigError`` naming ``what``."""
    text = value.strip()
    problem = _address_problem(text)
    if problem is not None:
        raise ConfigError(f"{what}: {problem}")
    return str(to_checksum_address(text))


def _address_or_none(value: Any, what: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a hex string")
    text = value.strip()
    problem = _address_problem(text)
    if problem is not None:
        raise ValueError(problem)
    return str(to_checksum_address(text))


class CycleConfig(BaseModel):
    """The numbers one keeper cycle needs besides its collaborators: costs, fees, limits.

    :class:`Settings` inherits these fields, so each is declared (and defaulted) once here and
    still read from its flat ``KEEPER_<FIELD>`` env var; :attr:`Settings.cycle` hands a cycle
    just this part. Tests build one directly (``CycleConfig(eth_usd=3000.0)``).
    """

    # -- cost model -------------------------------------------------------------------------
    reference_vol: float = Field(default=0.8, gt=0, description="vol the volband scales against")
    ewma_lambda: float = Field(default=0.94, gt=0, lt=1, description="EWMA decay per observation")
    # The gas defaults: recurring figures, a first purchase's surcharge apart; their sources
    # (bench/batching.py, docs/benchmarks.md) are beside them in keeper/app/defaults.py.
    gas_fixed: int = Field(default=LIVE_GAS_FIXED, ge=0, description="batch gas excluding vaults")
    gas_per_vault: int = Field(
        default=LIVE_GAS_PER_VAULT, ge=0, description="gas per vault in a batch"
    )
    gas_swap: int = Field(
        default=LIVE_GAS_SWAP, ge=0, description="gas of the batch's one pool swap (per pool)"
    )
    gas_direct: int = Field(
        default=LIVE_GAS_DIRECT,
        ge=0,
        description="gas of a lone vault's own rebalance, its swap included (with direct_single; "
        "a batch of one through the batcher adds the batcher's 14,000)",
    )
    gas_first_buy: int = Field(
        default=LIVE_GAS_FIRST_BUY,
        ge=0,
        description="gas a buy costs more when its vault holds no underlying (written from zero)",
    )
    # Unset (the default), each pool's own, as the lens reads them each cycle
    # (IUniswapV3Venue.depth): its fee tier, and 1 / its depth. Set, every pool's.
    pool_fee_bps: float | None = Field(
        default=None, ge=0, le=10_000, description="venue fee (bps); unset = the pool's fee tier"
    )
    impact_coef: float | None = Field(
        default=None,
        ge=0,
        le=1.0,
        description="slippage: 1 / pool depth (USD), at most 1; unset = from the pool's depth",
    )
    eth_usd: float | None = Field(
        default=None,
        gt=0,
        description="ETH price for gas costs; unset = the oracle price of a vault on WETH",
    )

    # -- gas and sending ---------------------------------------------------------------------
    max_fee_per_gas_wei: int = Field(default=10**11, gt=0, description="cap on maxFeePerGas")
    priority_fee_wei: int = Field(default=1_000_000, ge=0, description="tip asked by default")
    gas_headroom_bps: int = Field(default=2_000, ge=0, le=10_000, description="estimate margin")
    direct_single: bool = Field(
        default=True,
        description="send a lone vault's rebalance to the vault itself, not through the batcher "
        "(needs the vault's keeper role on the signer; without it the batcher is used)",
    )
    receipt_timeout_s: float = Field(default=120.0, gt=0, description="give up waiting after")

    # -- operations -------------------------------------------------------------------------
    low_balance_wei: int = Field(default=10**16, ge=0, description="alert below this balance")
    blocked_alert_blocks: int = Field(
        default=20,
        ge=1,
        description="alert when a wanted vault stays blocked this many blocks (again at 2x, 4x)",
    )
    queue_sweep_s: int = Field(
        default=3_600,
        ge=0,
        description="look for redemption queues the free quote can serve this often, in chain "
        "seconds, and fill them (between settlements; 0 = only after settlements)",
    )


#: Where every settings class reads from: ``KEEPER_*`` env vars, then ``.env``.
_ENV_CONFIG = SettingsConfigDict(
    env_prefix="KEEPER_",
    env_file=".env",
    env_file_encoding="utf-8",
    # inf passes every bound (gt=0, ge=0): no setting means "forever" or "unbounded" by it.
    allow_inf_nan=False,
    extra="ignore",
    env_ignore_empty=True,
    validate_default=True,
)


class _KeeperEnv(BaseSettings):
    """Reads ``KEEPER_*`` env vars, then the dotenv file, where the environment always wins.

    A variable set in the environment, even empty, hides the file's value (empty means unset:
    the field keeps its default).
    pydantic-settings ignores an empty env var (``env_ignore_empty``, which the dotenv file's
    empty lines need) and so would fall back to the file's value: ``KEEPER_PRIVATE_KEY=`` in the
    environment still signed with the file's key.
    """

    model_config = _ENV_CONFIG

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The default order, with the environment's names taken out of the dotenv file's."""
        if isinstance(dotenv_settings, DotEnvSettingsSource):
            present = {name.lower() for name in os.environ}
            dotenv_settings.env_vars = {
                k: v for k, v in dotenv_settings.env_vars.items() if k.lower() not in present
            }
        return init_settings, env_settings, dotenv_settings, file_secret_settings


#: The default SQLite journal (``KEEPER_JOURNAL_PATH``).
DEFAULT_JOURNAL = Path("keeper-journal.sqlite")


class Settings(CycleConfig, _KeeperEnv):
    """Every knob of the keeper. Env var = ``KEEPER_`` + the upper-cased field name.

    The fields a cycle uses are declared on :class:`CycleConfig` (inherited here).
    """

    model_config = _ENV_CONFIG

    # -- chain ------------------------------------------------------------------------------
    rpc_url: str = Field(
        default="http://127.0.0.1:8545",
        description="JSON-RPC URL(s), http(s):// or ws(s)://; comma-separated = fallbacks in order",
    )
    rpc_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="several JSON-RPC URLs (comma-separated; failover); empty = rpc_url",
    )
    send_rpc_url: str | None = Field(
        default=None, description="send raw transactions here (a private RPC); reads stay on rpc"
    )
    chain_id: int | None = Field(default=None, description="refuse an RPC on any other chain")
    rpc_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, description="per-request timeout (s), at most an hour"
    )
    rpc_hedge_s: float = Field(
        default=0.25,
        gt=0,
        description="floor of a read's hedge delay (adapts to 4x the method's mean latency)",
    )
    rpc_retries: int = Field(default=3, ge=1, le=10, description="attempts per read")
    cycle_deadline_s: float = Field(
        default=20.0, gt=0, description="retries of a cycle's reads stop after this"
    )
    startup_timeout_s: float = Field(
        default=60.0, gt=0, description="start-up retries transient errors this long, then exits"
    )
    finality_depth: int = Field(
        default=12, ge=1, le=10_000, description="blocks after which a mined tx is final"
    )

    # -- signer -----------------------------------------------------------------------------
    private_key: SecretStr | None = Field(default=None, description="hex private key")
    keystore_path: Path | None = Field(default=None, description="encrypted JSON keystore")
    keystore_password: SecretStr | None = Field(default=None, description="keystore password")

    # -- contracts --------------------------------------------------------------------------
    addresses_file: Path | None = Field(default=None, description="JSON file of addresses")
    vaults: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated vault addresses"
    )
    factory: str | None = Field(default=None, description="VaultFactory to list vaults from")
    batcher: str | None = Field(default=None, description="RebalanceBatcher address")
    simulate_from: str | None = Field(
        default=None, description="dry-run: simulate batches from this (keeper) address"
    )
    lens: str | None = Field(default=None, description="VaultLens address")
    lens_chunk: int = Field(
        default=250,
        ge=1,
        le=1000,
        description=(
            "vaults per call of the lens's full snapshot view (the demo's report, the devnet "
            "market); the keeper's cycle reads the lean view, 700 a call"
        ),
    )

    # -- policy -----------------------------------------------------------------------------
    # (the cost model and fee numbers a cycle uses are inherited from CycleConfig)
    policy: str = Field(
        default="costaware:risk_aversion=0.0001",
        description=(
            "policy spec family:key=value,... (time, band, volband, bandedge, ww, costaware)"
        ),
    )
    l1_fee_mode: Literal["auto", "op", "arbitrum", "none"] = Field(
        default="auto", description="how to price the L1 data fee"
    )

    # -- gas and sending ---------------------------------------------------------------------
    max_priority_fee_wei: int = Field(default=10**9, ge=0, description="cap on the tip")
    confirmations: int = Field(default=1, ge=1, le=100, description="blocks before mined")
    replace_after_blocks: int = Field(default=3, ge=1, description="bump a tx unmined after K")

    # -- operations -------------------------------------------------------------------------
    journal_path: Path = Field(default=DEFAULT_JOURNAL, description="SQLite journal")
    metrics_port: int = Field(default=0, ge=0, le=65_535, description="Prometheus port; 0 = off")
    alert_webhook_url: SecretStr | None = Field(default=None, description="POST alerts here")
    breaker_threshold: int = Field(
        default=5, ge=1, description="halt after N systemic failures in a row"
    )
    unserved_alert_blocks: int = Field(
        default=10, ge=1, description="alert after N blocks of a need the keeper could not serve"
    )
    head_stall_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="alert when no new block is seen for this long, seconds (0: never)",
    )
    poll_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=3_600,
        description="new-block polling period, at most an hour (the first poll after a cycle "
        "waits until one period before the next block is due, once the block interval is "
        "measured)",
    )
    log_json: bool = Field(default=True, description="JSON log lines (else plain text)")

    # -- validators -------------------------------------------------------------------------
    @field_validator("vaults", mode="before")
    @classmethod
    def _split_vaults(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v for v in (p.strip() for p in value.replace(";", ",").split(",")) if v]
        return value

    @field_validator("vaults")
    @classmethod
    def _check_vaults(cls, value: list[str]) -> list[str]:
        out: list[str] = []
        for item in value:
            address = _address_or_none(item, "vault")
            if address is None:
                continue
            if address in out:
                raise ValueError(f"vault {address} is listed twice")
            out.append(address)
        return out

    @field_validator("factory", "batcher", "lens", "simulate_from", mode="before")
    @classmethod
    def _check_address(cls, value: Any) -> str | None:
        return _address_or_none(value, "address")

    @field_validator("chain_id")
    @classmethod
    def _check_chain_id(cls, value: int | None) -> int | None:
        if value is not None:
            _check_chain_id_bounds(value)
        return value

    @field_validator("journal_path", mode="before")
    @classmethod
    def _check_journal_path(cls, value: Any) -> Any:
        return _journal_path_form(value)

    @field_validator("keystore_path", "addresses_file", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return _home_path(value)

    @field_validator("rpc_url")
    @classmethod
    def _check_rpc(cls, value: str) -> str:
        check_rpc_urls(_split_urls(value))
        return lower_schemes(value)  # HTTP:// is http:// (RFC 3986 3.1): one spelling from here

    @field_validator("rpc_urls", mode="before")
    @classmethod
    def _split_rpc_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _split_urls(value)
        return value

    @field_validator("rpc_urls")
    @classmethod
    def _check_rpc_urls(cls, value: list[str]) -> list[str]:
        check_rpc_urls(value)
        return [lower_scheme(url) for url in value]

    @field_validator("send_rpc_url")
    @classmethod
    def _check_send_rpc(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            check_rpc_url(value.strip())
            return lower_scheme(value.strip())
        return None

    @field_validator("alert_webhook_url")
    @classmethod
    def _check_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        # The URL often carries a token (Slack, Discord): the message never shows it.
        if value is not None:
            scheme = value.get_secret_value().strip().partition("://")[0].lower()
            if scheme not in ("http", "https"):
                raise ValueError("must be an http:// or https:// URL (the value is not shown)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        """Read an int setting written with an exponent as the whole number it names.

        ``KEEPER_LOW_BALANCE_WEI=1e16``, as the backtest's gas and wei flags read it; ``1.5`` is
        still refused by the field.
        """
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            text = out.get(name)
            if isinstance(text, str) and field.annotation in (int, int | None):
                value = parse_whole(text)
                if value is not None:
                    out[name] = value
        return out

    @model_validator(mode="after")
    def _check_signer(self) -> Settings:
        if self.private_key is not None and self.keystore_path is not None:
            raise ValueError("set either KEEPER_PRIVATE_KEY or KEEPER_KEYSTORE_PATH, not both")
        if self.keystore_path is not None and self.keystore_password is None:
            raise ValueError("KEEPER_KEYSTORE_PATH needs KEEPER_KEYSTORE_PASSWORD")
        if self.max_priority_fee_wei > self.max_fee_per_gas_wei:
            raise ValueError("KEEPER_MAX_PRIORITY_FEE_WEI exceeds KEEPER_MAX_FEE_PER_GAS_WEI")
        if mul_div_up(self.priority_fee_wei, 10_000 + MIN_BUMP_BPS, 10_000) > (
            self.max_priority_fee_wei
        ):
            raise ValueError(
                f"KEEPER_PRIORITY_FEE_WEI ({self.priority_fee_wei}) leaves no room under "
                f"KEEPER_MAX_PRIORITY_FEE_WEI ({self.max_priority_fee_wei}) for a replacement's "
                f"{MIN_BUMP_BPS / 100:g}% bump: a stuck transaction could never be replaced"
            )
        if not self.rpc_urls:
            # KEEPER_RPC_URL (comma-separated) keeps working: it is the list when RPC_URLS is unset.
            self.rpc_urls = _split_urls(self.rpc_url)
        return self

    # -- derived ----------------------------------------------------------------------------
    @property
    def cycle(self) -> CycleConfig:
        """The cycle's part of the settings (what :class:`~keeper.app.cycle.Keeper` holds)."""
        return CycleConfig(**{name: getattr(self, name) for name in CycleConfig.model_fields})

    @property
    def dry_run(self) -> bool:
        """True when no signer is configured: observe and decide, never sign."""
        return self.private_key is None and self.keystore_path is None

    def signer(self) -> LocalAccount | None:
        """Load the signing account, or ``None`` in dry-run mode.

        Raises:
            ConfigError: The key is malformed, the keystore is missing or unreadable, or the
                password is wrong. The message never contains the key or the password.
        """
        if self.private_key is not None:
            from eth_account import Account

            key = self.private_key.get_secret_value().strip()
            try:
                # eth_account pads an odd-length hex key with a leading zero: a key missing a
                # digit would sign as another account. 64 hex digits, with or without 0x.
                if len(key.removeprefix("0x").removeprefix("0X")) != 64:
                    raise ValueError("not 64 hex digits")
                acct: LocalAccount = Account.from_key(key)
            except (ValueError, TypeError):
                # Never chain the original: its message may quote the key.
                raise ConfigError(
                    "KEEPER_PRIVATE_KEY is not a valid 32-byte hex private key"
                ) from None
            return acct
        if self.keystore_path is not None:
            return _load_keystore(self.keystore_path, self.keystore_password)
        return None


#: The largest chain id (EIP-2294: ``floor(MAX_UINT64 / 2) - 36``).
MAX_CHAIN_ID = 2**63 - 37


def _check_chain_id_bounds(value: int) -> None:
    """Refuse a chain id that is not positive or above :data:`MAX_CHAIN_ID`.

    ``0`` or ``-1`` (a placeholder), or an id with digits pasted after it, used to pass and be
    blamed on the RPC once connected (``RPC is on chain 421614, expected chain -1``).
    """
    if not 0 < value <= MAX_CHAIN_ID:
        raise ValueError(f"{value} is not a chain id (a number from 1 to {MAX_CHAIN_ID:,})")


def _journal_path_form(value: Any) -> Any:
    """Refuse a journal path whose text names a directory, as ``--journal`` refuses it.

    A leading ``~`` is made the home directory first (:func:`keeper.arguments.expand_home`).

    pathlib reads ``journal/`` as ``journal``: the keeper made a file of that name where a
    directory was meant. (A ``--journal`` flag arrives as a ``Path``, its text checked already.)
    """
    if isinstance(value, str):
        value = expand_home(value)
        problem = path_form_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


def _home_path(value: Any) -> Any:
    """A file setting's text with a leading ``~`` made the home directory.

    A dotenv file is read by no shell (:func:`keeper.arguments.expand_home`).
    """
    return expand_home(value) if isinstance(value, str) else value


def _load_keystore(path: Path, password: SecretStr | None) -> LocalAccount:
    from eth_account import Account

    try:
        keyfile = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"keystore {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"keystore {path} is unreadable: {type(exc).__name__}") from None
    except json.JSONDecodeError:
        raise ConfigError(f"keystore {path} is not a JSON keystore") from None
    _check_kdf_work(keyfile, path)
    secret = password.get_secret_value() if password is not None else ""
    try:
        key = Account.decrypt(keyfile, secret)
    except OverflowError:
        raise ConfigError(f"keystore {path} is malformed (its key derivation overflows)") from None
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise ConfigError(f"wrong password for keystore {path}") from None
        raise ConfigError(f"keystore {path} is malformed") from None
    except (KeyError, TypeError):
        raise ConfigError(f"keystore {path} is malformed") from None
    acct: LocalAccount = Account.from_key(key)
    return acct


#: The most key-derivation work a keystore may ask for: pbkdf2's ``c`` (eth-keyfile writes
#: 1,000,000 by default) and scrypt's ``n`` (geth writes 262,144). A file asking for more would
#: derive for minutes to hours, or overflow, before the password is even checked.
MAX_KDF_ITERATIONS = 10_000_000


def _check_kdf_work(keyfile: Any, path: Path) -> None:
    """Refuse a keystore whose key derivation asks for more than :data:`MAX_KDF_ITERATIONS`."""
    crypto = keyfile.get("crypto", keyfile.get("Crypto")) if isinstance(keyfile, dict) else None
    params = crypto.get("kdfparams") if isinstance(crypto, dict) else None
    if not isinstance(params, dict):
        return  # malformed: eth-account says so
    for name in ("c", "n"):
        work = params.get(name)
        if isinstance(work, int) and work > MAX_KDF_ITERATIONS:
            raise ConfigError(
                f"keystore {path} asks for {work:,} key-derivation iterations ({name}), more than "
                f"{MAX_KDF_ITERATIONS:,}: refused"
            )


def read_addresses_file(path: Path) -> dict[str, Any]:
    """Read a devnet/deployment addresses JSON file into settings field names.

    Raises:
        ConfigError: The file is missing, not JSON, or not an object.
    """
    try:
        raw = json.loads(read_utf8(path, "addresses file"))
    except FileNotFoundError:
        raise ConfigError(f"addresses file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"addresses file {path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"addresses file {path} must hold a JSON object")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        field = _ADDRESS_FILE_KEYS.get(key)
        if field is not None:
            out[field] = value
    return out


def load_settings(
    *,
    env_file: Path | str | None = ".env",
    addresses: Path | None = None,
    flags: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from env, ``.env``, an optional addresses file and overrides.

    Args:
        env_file: The dotenv file (missing is fine); ``None`` reads the environment only.
        addresses: An addresses JSON file (overrides ``KEEPER_ADDRESSES_FILE``).
        flags: The command-line flag that gave each override (``{"rpc_url": "--rpc-url"}``):
            an error in that field names the flag, not its ``KEEPER_*`` env var.
        **overrides: Field values that win over everything else (e.g. from CLI flags).

    Raises:
        ConfigError: One line naming every bad field; secrets are never echoed. Also a line of
            the dotenv file that does not parse, or a ``KEEPER_*`` name that is not a setting
            but close to one (a misspelt ``KEEPER_PRIVATE_KEY`` would run the keeper dry).
    """
    _check_env_names(env_file)
    names = {k: v for k, v in (flags or {}).items() if overrides.get(k) is not None}
    if "rpc_url" in names and overrides.get("rpc_urls") is None:
        names["rpc_urls"] = names["rpc_url"]  # the list is split from the flag's value
    try:
        # Only the two env values that say where to look are read first; everything else is
        # validated once, after the file and the flags are merged, so an env value they
        # override is never used and cannot fail the command.
        where = _Where(_env_file=env_file)
        file = addresses or (Path(where.addresses_file) if where.addresses_file else None)
        merged: dict[str, Any] = {}
        if file is not None:
            from_file = read_addresses_file(file)
            merged.update(from_file)
            merged["addresses_file"] = file
            for field in from_file:  # a bad value there is the file's, unless a flag overrode it
                names.setdefault(field, f"{file}: {field}")
            _check_chain_ids(where.chain_id, merged.get("chain_id"), file)
        merged.update({k: v for k, v in overrides.items() if v is not None})
        if file is not None and "rpc_url" in merged and overrides.get("rpc_url") is None:
            _warn_file_rpc_url(file, str(merged["rpc_url"]), where)
        if file is not None:
            _warn_file_addresses(file, from_file, overrides, where)
        if merged.get("rpc_url") is not None and overrides.get("rpc_urls") is None:
            # An explicit --rpc-url (or the file's rpc_url) wins over KEEPER_RPC_URLS, and the
            # list split from it is named as it is (not as KEEPER_RPC_URLS, which nobody set).
            merged["rpc_urls"] = _split_urls(str(merged["rpc_url"]))
            if "rpc_url" in names:
                names["rpc_urls"] = names["rpc_url"]
        return Settings(_env_file=env_file, **merged)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, names)) from None


#: ``KEEPER_*`` names that other tools read, never taken for a misspelt setting: the deploy
#: script's ``KEEPER_ADDRESS`` and the test suite's own.
_OTHER_TOOLS_NAMES = frozenset(
    {"KEEPER_ADDRESS", "KEEPER_ARTIFACTS_DIR", "KEEPER_CHROMIUM", "KEEPER_UPDATE_SCREENSHOTS"}
)


def _check_env_names(env_file: Path | str | None, *, names: bool = True) -> None:
    """Refuse a dotenv line that does not parse, a name set twice, or one close to a setting's.

    pydantic-settings ignores a line that does not parse (python-dotenv only logs a warning) and
    a misspelt name: a ``KEEPER_PRIVATE_KEY 0x...`` line without ``=``, a pasted key alone on
    its line (a name without a value to python-dotenv), or ``KEEPER_PRIVATEKEY=0x...``, used to
    leave the keeper without its signer, in dry-run mode; of a ``KEEPER_*`` name set twice the
    last line won, silently. In the dotenv file, the keeper's own, any other ``KEEPER_*`` name
    is refused too (``KEEPER_DRY_RUN=true`` was ignored); in the environment one far from every
    setting may belong to another tool and is left alone, except ``KEEPER_DRY_RUN``. No message
    shows a value.

    Args:
        env_file: The dotenv file (missing is fine); ``None`` checks the environment only.
        names: Also refuse a misspelt name; ``False`` checks only that every line parses.

    Raises:
        ConfigError: The file and line of the first line that does not parse or sets a
            ``KEEPER_*`` name again, or the first misspelt name, where it was found and the
            setting it is close to.
    """
    found = {name.upper(): "the environment" for name in os.environ}
    content = _read_env_file(env_file)
    if env_file is not None and content is not None:
        seen: dict[str, int] = {}
        with io.StringIO(content) as stream:
            for binding in parse_stream(stream):
                text = binding.original.string
                line = binding.original.line + text[: len(text) - len(text.lstrip())].count("\n")
                # A bare word parses as a name without a value: a pasted key with no
                # ``KEEPER_PRIVATE_KEY=`` in front would be ignored.
                if binding.error or (binding.key is not None and binding.value is None):
                    raise ConfigError(
                        f"{env_file} line {line} is not a KEY=VALUE line (not shown: it may hold "
                        "a secret)"
                    )
                if binding.key is None:
                    continue
                key = binding.key.upper()
                if key.startswith("KEEPER_") and key in seen:
                    raise ConfigError(
                        f"{env_file} sets {key} twice (lines {seen[key]} and {line}): keep one "
                        "(not shown: it may hold a secret)"
                    )
                seen[key] = line
                found.setdefault(key, str(env_file))
    if not names:
        return
    known = [f"KEEPER_{name.upper()}" for name in Settings.model_fields]
    for name, where in found.items():
        if not name.startswith("KEEPER_") or name in known or name in _OTHER_TOOLS_NAMES:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            raise ConfigError(
                f"{name} (in {where}) is not a setting: did you mean {close[0]}? "
                "(every setting is in .env.example)"
            )
        if where != "the environment" or name == "KEEPER_DRY_RUN":
            # The keeper's own file holds only its settings; and a dry run is asked for on the
            # command line, never by a variable (KEEPER_DRY_RUN=true was ignored, and a keeper
            # with a key signed though its operator meant a dry run).
            how = (
                ": a dry run is `keeper check` or `keeper run --dry-run`"
                if name == "KEEPER_DRY_RUN"
                else " (every setting is in .env.example)"
            )
            raise ConfigError(f"{name} (in {where}) is not a setting{how}")


def _read_env_file(env_file: Path | str | None) -> str | None:
    """The dotenv file's text, or ``None`` when there is none (``None``, missing, not a file).

    A file this user may not read (mode 600 of another user, the usual guard of a key in it)
    made every command end in a ``PermissionError`` traceback, from here or from
    pydantic-settings reading it after.

    Raises:
        ConfigError: The file exists but cannot be read, or is not UTF-8 (one line, naming it).
    """
    if env_file is None:
        return None
    path = Path(env_file)
    try:
        if not path.is_file():
            return None
        return read_utf8(path, "dotenv file")
    except OSError as exc:
        raise ConfigError(
            f"dotenv file {env_file} cannot be read ({exc.strerror or type(exc).__name__}): "
            "run the keeper as a user who may read it, or name another with --env-file"
        ) from None


class _Where(_KeeperEnv):
    """The env values :func:`load_settings` reads before merging, unvalidated (strings)."""

    model_config = _ENV_CONFIG

    addresses_file: str | None = None
    chain_id: str | None = None
    rpc_url: str | None = None
    rpc_urls: str | None = None
    lens: str | None = None
    batcher: str | None = None
    factory: str | None = None

    @field_validator("addresses_file", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        return _home_path(value)


class _JournalOnly(_KeeperEnv):
    """``KEEPER_JOURNAL_PATH`` alone, for commands that read nothing else (``keeper status``)."""

    model_config = _ENV_CONFIG

    journal_path: Path = DEFAULT_JOURNAL

    @field_validator("journal_path", mode="before")
    @classmethod
    def _check_journal_path(cls, value: Any) -> Any:
        return _journal_path_form(value)


def load_journal_path(*, env_file: Path | str | None = ".env", journal: Path | None = None) -> Path:
    """The journal path: ``journal`` (a ``--journal`` flag), else ``KEEPER_JOURNAL_PATH``.

    No other setting is read, so one that is wrong (or an RPC URL) cannot fail the caller.

    Raises:
        ConfigError: ``KEEPER_JOURNAL_PATH`` is malformed, or a line of the dotenv file does not
            parse (it may be the journal's: python-dotenv would skip it with a warning, and the
            default journal would be read instead).
    """
    if journal is not None:
        return journal
    _check_env_names(env_file, names=False)  # reads it as UTF-8 too: pydantic would raise
    try:
        return _JournalOnly(_env_file=env_file).journal_path
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def file_chain_id(value: Any, where: str) -> int:
    """An addresses file's ``chain_id`` as an int.

    Raises:
        ConfigError: ``"<where>: chain_id '<value>' is not a number"``.
    """
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: chain_id {value!r} is not a number") from None


def _warn_file_rpc_url(file: Path, file_url: str, where: _Where) -> None:
    """Warn when the addresses file's ``rpc_url`` hides a different ``KEEPER_RPC_URL(S)``.

    The file wins (a devnet's file names its own node), but not silently: a fork of a testnet
    has the testnet's chain id, so with the testnet's URL in the file and the fork's in
    ``KEEPER_RPC_URL`` no chain check told the keeper was on the testnet. Endpoints are named by
    scheme, host and port only: a URL's path may hold an API key. A hidden value that is not an
    RPC URL at all is not warned about: it could never have been used (README: an overridden
    value is never read, so a malformed one does not stop a command).
    """
    name, value = (
        ("KEEPER_RPC_URLS", where.rpc_urls) if where.rpc_urls else ("KEEPER_RPC_URL", where.rpc_url)
    )
    if not value:
        return
    hidden = _split_urls(value)
    used = _split_urls(file_url)

    def form(urls: list[str]) -> list[str]:  # a trailing "/" and the scheme's case aside
        return [lower_scheme(u).rstrip("/") for u in urls]

    if form(hidden) == form(used):
        return
    named_hidden = [_endpoint(u) for u in hidden]
    named_used = [_endpoint(u) for u in used]
    if not named_hidden or None in named_hidden or None in named_used:
        return
    logger.warning(
        "addresses file %s names rpc_url %s, which is used instead of %s (%s): pass --rpc-url "
        "to choose",
        file,
        ", ".join(str(u) for u in named_used),
        name,
        ", ".join(str(u) for u in named_hidden),
    )


def _warn_file_addresses(
    file: Path, from_file: Mapping[str, Any], overrides: Mapping[str, Any], where: _Where
) -> None:
    """Warn when the addresses file hides a different ``KEEPER_LENS``, ``_BATCHER`` or ``_FACTORY``.

    The file wins, as for ``rpc_url``: but a lens redeployed for a newer layout and set in
    ``KEEPER_LENS`` (as the layout error said to) was ignored without a word, and the keeper
    kept meeting the old one.
    """
    for field in ("lens", "batcher", "factory"):
        hidden = getattr(where, field)
        used = from_file.get(field)
        if not hidden or not isinstance(used, str) or overrides.get(field) is not None:
            continue
        if hidden.strip().lower() == used.strip().lower():
            continue
        logger.warning(
            "addresses file %s names %s %s, which is used instead of KEEPER_%s (%s): change "
            "the file's %s to use the other",
            file,
            field,
            used,
            field.upper(),
            hidden.strip(),
            field,
        )


def _endpoint(url: str) -> str | None:
    """``scheme://host[:port]`` of an RPC URL (no path, query or credentials); ``None`` if none."""
    try:
        parts = urlsplit(url.strip())
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return None
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.hostname}{port}"


def _check_chain_ids(env_value: str | None, in_file: Any, file: Path) -> None:
    """Refuse an addresses file whose chain id disagrees with ``KEEPER_CHAIN_ID``.

    The file's chain id is what the settings keep; ``KEEPER_CHAIN_ID`` is a guard checked
    against it, so one that is not a number is refused here rather than dropped. Without a
    chain id in the file, the settings' own validation refuses it.

    Raises:
        ConfigError: Both are set and differ (naming both), or ``KEEPER_CHAIN_ID`` is not a number.
    """
    if env_value is None or in_file is None:
        return
    try:
        configured = int(env_value)
    except ValueError:
        raise ConfigError(f"KEEPER_CHAIN_ID {env_value!r} is not a number") from None
    try:
        _check_chain_id_bounds(configured)
    except ValueError as exc:
        raise ConfigError(f"KEEPER_CHAIN_ID: {exc}") from None
    file_id = file_chain_id(in_file, f"addresses file {file}")
    if file_id != configured:
        raise ConfigError(
            f"KEEPER_CHAIN_ID is {configured} but addresses file {file} is for chain {file_id}: "
            "unset one or make them agree"
        )


def env_file_arg(value: Path | str | None) -> str:
    """The dotenv path of an ``--env-file`` flag: ``.env`` (may be missing) when not given.

    Its form (empty, or a directory by its spelling) is checked as typed, by argparse
    (:func:`keeper.arguments.file_path`, exit code 2); what is found on disk, here (exit code 1).

    Raises:
        ConfigError: A file named explicitly does not exist.
    """
    if value is None:
        return ".env"
    path = Path(value)
    try:
        missing, directory = not path.exists(), path.is_dir()
    except OSError as exc:  # a directory on the way this user may not search
        raise ConfigError(
            f"--env-file {value} cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    if missing:
        raise ConfigError(f"--env-file {value} does not exist")
    if directory:
        raise ConfigError(f"--env-file {value} is a directory, not a dotenv file")
    return str(value)


def _one_line(exc: ValidationError, names: Mapping[str, str] | None = None) -> str:
    """Turn pydantic's errors into one line without the offending inputs (they may be secrets).

    Each error is ``NAME: message``, ``NAME`` the flag that set the field (from ``names``) or
    else its ``KEEPER_*`` env var; an error of several fields (a model check) is its message
    alone, which names their env vars itself. Errors are joined by ``"; "``, a repeated one
    shown once.
    """
    parts: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ()))
        msg = " ".join(str(err.get("msg", "invalid value")).removeprefix("Value error, ").split())
        field = loc.split(".")[0]
        name = (names or {}).get(field) or f"KEEPER_{field.upper()}"
        part = f"{name}: {msg}" if loc else msg
        if part not in parts:
            parts.append(part)
    return "; ".join(parts)


#: The settings fields the shared flags set, and the flag an error in each names.
SHARED_FLAGS: Mapping[str, str] = MappingProxyType(
    {"rpc_url": "--rpc-url", "policy": "--policy", "journal_path": "--journal"}
)


def _default(field: str) -> object:
    """A setting's default, as ``--help`` names it."""
    return Settings.model_fields[field].default


#: ``--policy``'s help, in every command that takes it (``run``, ``check``, ``rehearse``).
POLICY_FLAG_HELP = (
    f"policy spec, e.g. band:width=0.05 (default: KEEPER_POLICY, else {_default('policy')})"
)

#: ``--journal``'s help where the journal is read (``run``, ``status``).
JOURNAL_FLAG_HELP = (
    f"SQLite journal path (default: KEEPER_JOURNAL_PATH, else {_default('journal_path')}, "
    "in the directory the command starts in)"
)


def add_settings_args(parser: Any, *, journal_help: str = JOURNAL_FLAG_HELP) -> None:
    """Add the flags every keeper command shares (they override env and ``.env``)."""
    parser.add_argument(
        "--env-file",
        type=file_path,
        default=None,
        metavar="PATH",
        help="dotenv file of KEEPER_* settings (default .env if present; a named one must exist)",
    )
    parser.add_argument(
        "--addresses",
        type=file_path,
        metavar="JSON",
        help="addresses file (lens, batcher, vaults, factory, chain_id, rpc_url), e.g. "
        "devnet.json; its rpc_url wins over KEEPER_RPC_URL, --rpc-url over it (default: "
        "KEEPER_ADDRESSES_FILE, else none: KEEPER_LENS, KEEPER_BATCHER, KEEPER_VAULTS ...)",
    )
    parser.add_argument(
        "--rpc-url",
        type=rpc_url,
        metavar="URL",
        help="JSON-RPC URL, http(s):// or ws(s):// (default: the addresses file's rpc_url, "
        f"else KEEPER_RPC_URL(S), else {_default('rpc_url')})",
    )
    parser.add_argument("--policy", metavar="SPEC", help=POLICY_FLAG_HELP)
    parser.add_argument("--journal", type=file_path, metavar="PATH", help=journal_help)


def settings_from_args(args: Any) -> Settings:
    """Load settings with the shared CLI flags applied.

    Raises:
        ConfigError: One line naming the bad field.
    """
    return load_settings(
        env_file=env_file_arg(args.env_file),
        addresses=args.addresses,
        flags=SHARED_FLAGS,
        rpc_url=getattr(args, "rpc_url", None),
        policy=getattr(args, "policy", None),
        journal_path=getattr(args, "journal", None),
    )


def url_secrets(url: str) -> list[str]:
    """The parts of an RPC URL that may hold an API key: path and query, and ``user:password``.

    Logs name an endpoint by its scheme and host only; a library's own lines (urllib3's
    ``"POST /v3/<key> HTTP/1.1"`` at ``-vv``) are masked with these. Longest first.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # "Invalid IPv6 URL": mask all of it; connecting refuses it in one line
        return [url.strip()] if url.strip() else []
    query = f"?{parts.query}" if parts.query else ""
    out = [parts.path + query, parts.path, parts.query]
    if "@" in parts.netloc:
        out.append(parts.netloc.rsplit("@", 1)[0])
    return sorted({s for s in out if s.strip("/")}, key=len, reverse=True)


def secret_values(settings: Settings) -> list[str]:
    """The secret strings to mask in logs (key, keystore password, webhook URL, RPC URL keys)."""
    out = []
    for secret in (settings.private_key, settings.keystore_password, settings.alert_webhook_url):
        if secret is not None:
            out.append(secret.get_secret_value().strip())
    urls = [*_split_urls(settings.rpc_url), *settings.rpc_urls, settings.send_rpc_url or ""]
    if settings.alert_webhook_url is not None:
        # urllib3 (-vv) logs each POST's target without the host: a webhook's path or query is
        # its token, masked as an RPC URL's API key is.
        urls.append(settings.alert_webhook_url.get_secret_value().strip())
    for url in dict.fromkeys(u for u in urls if u):
        out += url_secrets(url)
    return out


#: The documented example of every setting, at the checkout root.
PROJECT_ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
