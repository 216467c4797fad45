"""docs/security.md's figures are the contracts' constants, read from the Solidity sources.

The admin setters' hard bounds, the oracle timelock, the settlement rules' round and phase
counts, the premium markup and the vault's room under EIP-170 were quoted in the page with
nothing holding them to ``contracts/``: a bound changed in ``RebalanceRules.sol`` would have left
the page telling depositors what the admin cannot do, wrongly. Each figure is read here from the
source (a setter -> its ``P_*`` index -> ``RebalanceRules._spec`` -> its ``MIN_*``/``MAX_*``
constants), not from a Python copy such as ``keeper.chain.rounds``.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from functools import cache

import pytest

from keeper.chain.artifacts import _artifact_path
from keeper.devnet.stack import StackConfig
from keeper.locations import PROJECT_ROOT, artifacts_dir

DOC = PROJECT_ROOT / "docs" / "security.md"
CONTRACTS = PROJECT_ROOT / "contracts"
WAD = 10**18
DAY = 86_400

_UNITS = {"seconds": 1, "minutes": 60, "hours": 3_600, "days": DAY, "weeks": 7 * DAY}
_NUMBER = re.compile(
    r"\b(\d[\d_]*(?:\.\d+)?(?:e\d+)?)(?:\s+(" + "|".join(_UNITS) + r"))?\b(?![\w(])"
)
_BINARY: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.LShift: operator.lshift,
    ast.Pow: operator.pow,
}


@cache
def _source(name: str) -> str:
    return (CONTRACTS / name).read_text()


def constant(contract: str, name: str) -> int:
    """The value of ``constant <name> = <expression>;`` in ``contracts/<contract>``.

    Evaluates what these constants are written with: literals (``100_000``, ``0.01e18``),
    time units, ``type(intN).max``, ``+ - * << **`` and other constants of the same file.
    """
    m = re.search(rf"\bconstant {name} =\s*([^;]+);", _source(contract))
    assert m is not None, f"{contract} has no constant {name}"
    return value_of(m[1], lambda other: constant(contract, other))


def value_of(expression: str, lookup: Callable[[str], int]) -> int:
    """A constant's ``expression``, the names in it looked up with ``lookup``."""
    text = re.sub(
        r"type\((u?)int(\d+)\)\.max",
        lambda t: str(2 ** int(t[2]) - 1 if t[1] else 2 ** (int(t[2]) - 1) - 1),
        expression,
    )

    def literal(t: re.Match[str]) -> str:
        value = Fraction(t[1].replace("_", "")) * _UNITS.get(t[2] or "seconds", 1)
        assert value.denominator == 1, t[0]
        return str(value.numerator)

    def evaluate(node: ast.expr) -> int:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return lookup(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](evaluate(node.left), evaluate(node.right))
        raise AssertionError(f"cannot evaluate {ast.unparse(node)}")

    return evaluate(ast.parse(_NUMBER.sub(literal, text).strip(), mode="eval").body)


def _body(contract: str, function: str) -> str:
    """The body of ``function <function>(`` in ``contracts/<contract>`` (to its closing brace)."""
    text = _source(contract)
    start = text.index("{", text.index(f"function {function}("))
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    raise AssertionError(function)


def _spec_bounds() -> dict[int | None, tuple[str, str]]:
    """``RebalanceRules._spec``: threshold index (None for the last, unconditional return) ->
    the names of its (lower, upper) hard bounds."""
    specs: dict[int | None, tuple[str, str]] = {}
    for which, lo, hi in re.findall(
        r"(?:if \(which == (\d+)\) )?return \(\"\w+\", [^;]*?, (\w+), (\w+)\);",
        _body("RebalanceRules.sol", "_spec"),
    ):
        specs[int(which) if which else None] = (lo, hi)
    return specs


def setter_bounds(setter: str) -> tuple[int, int]:
    """The hard bounds the vault's ``setter`` enforces, from the contracts' sources."""
    if setter == "setMinPremiumEdgeBps":
        m = re.search(r"if \(bps > (\w+)\) revert", _body("OptionBook.sol", setter))
        assert m is not None
        return 0, constant("OptionBook.sol", m[1])
    body = _body("OptionVault.sol", setter)
    inner = re.search(r"\b(_set\w+)\(", body)
    if inner is not None and "P_" not in body:
        body = _body("OptionVault.sol", inner[1])
    m = re.search(r"\b(?:_adminSetParam|_setParam|_thresholdChange)\((P_\w+)", body)
    assert m is not None, f"{setter} sets no threshold"
    which = constant("OptionVault.sol", m[1])
    specs = _spec_bounds()
    lo, hi = specs[which] if which in specs else specs[None]
    low = int(lo) if lo.isdigit() else constant("RebalanceRules.sol", lo)
    return low, constant("RebalanceRules.sol", hi)


def _doc() -> str:
    return " ".join(DOC.read_text().split())


def _section(heading: str) -> str:
    text = DOC.read_text()
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return " ".join(text[start : end if end > 0 else len(text)].split())


def doc_quantity(setter: str, text: str) -> int:
    """A bound as the page writes it, in the setter's own units.

    ``1 s``, ``1 min``, ``2 days`` are seconds; ``0.01%`` is 1 for a ``...Bps`` setter and 0.01e18
    for the volatility (a WAD fraction); a bare number (``1e-6``, ``1,000,000 underlying``) is an
    amount of underlying, in WAD.
    """
    m = re.fullmatch(
        r"([0-9][0-9,]*(?:\.[0-9]+)?(?:e-?[0-9]+)?)\s*(%|s|min|days?|underlying)?", text
    )
    assert m is not None, f"{setter}: cannot read {text!r}"
    value, unit = Fraction(Decimal(m[1].replace(",", ""))), m[2]
    if unit in ("s", "min", "day", "days"):
        scaled = value * {"s": 1, "min": 60, "day": DAY, "days": DAY}[unit]
    elif unit == "%":
        scaled = value * 100 if setter.endswith("Bps") else value * WAD / 100
    else:
        scaled = value * WAD
    assert scaled.denominator == 1, f"{setter}: {text!r} is not a whole number of units"
    return int(scaled)


def documented_setter_bounds() -> dict[str, tuple[int, int]]:
    """``setX`` -> (lower, upper) as "Admin setters" writes them: ``(lo .. hi, ...)`` or
    ``(|target| <= hi ...)``."""
    said: dict[str, tuple[int, int]] = {}
    for setter, inside in re.findall(r"`(set\w+)` \(([^)]*)\)", _section("### Admin setters")):
        bounds = inside.split(", ")[0].strip()
        if " .. " in bounds:
            lo, hi = bounds.split(" .. ")
            said[setter] = (doc_quantity(setter, lo), doc_quantity(setter, hi))
        elif m := re.fullmatch(r"\|\w+\| <= (.+)", bounds):
            said[setter] = (0, doc_quantity(setter, m[1]))
    return said


def test_every_bounded_setter_the_page_names_has_the_contracts_bounds() -> None:
    said = documented_setter_bounds()
    assert set(said) >= {
        "setTargetDelta",
        "setBand",
        "setMinInterval",
        "setMaxInterval",
        "setMaxTrade",
        "setOracleHeartbeat",
        "setSequencerGracePeriod",
        "setMaxSlippageBps",
        "setMaxOracleGapBps",
        "setVolatility",
        "setMinPremiumEdgeBps",
    }
    for setter, bounds in said.items():
        assert bounds == setter_bounds(setter), setter


def test_every_threshold_setter_of_the_vault_is_on_the_page() -> None:
    # A new bounded setter must be documented with its bounds too.
    bounded = set(
        re.findall(
            r"function (set\w+)\([^)]*\) external[^{]*\{\s*_adminSetParam",
            _source("OptionVault.sol"),
        )
    )
    bounded |= {"setTargetDelta", "setVolatility"}
    assert bounded <= set(documented_setter_bounds())


def _said(pattern: str) -> tuple[int, ...]:
    m = re.search(pattern, _doc())
    assert m is not None, f"docs/security.md no longer says {pattern!r}"
    return tuple(int(g.replace(",", "")) for g in m.groups())


_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}


@pytest.mark.parametrize(
    ("pattern", "contract", "name", "unit"),
    [
        (r"a (\d+)-day timelock \(`ORACLE_TIMELOCK`\)", "OptionVault.sol", "ORACLE_TIMELOCK", DAY),
        (r"until the admin's (\d+)-day oracle change", "OptionVault.sol", "ORACLE_TIMELOCK", DAY),
        (r"replaces it \((\d+)-day timelock\)", "OptionVault.sol", "ORACLE_TIMELOCK", DAY),
        (r"collateral rule, (\d+) open series", "OptionBook.sol", "MAX_OPEN_SERIES", 1),
        (
            r"none of the (\d+) rounds after it \(`AHEAD_WINDOW`",
            "RebalanceRules.sol",
            "AHEAD_WINDOW",
            1,
        ),
        (
            r"more than (\d+) rounds after the honest expiry",
            "RebalanceRules.sol",
            "AHEAD_WINDOW",
            1,
        ),
        (r"passes over up to (\d+) rounds in a row", "RebalanceRules.sol", "MAX_AHEAD_ROUNDS", 1),
        (
            r"up to (\d+) such rounds in a row after expiry",
            "RebalanceRules.sol",
            "MAX_AHEAD_ROUNDS",
            1,
        ),
        (
            r"from expiry \+ (\d+) day \(`SETTLEMENT_GRACE`\)",
            "RebalanceRules.sol",
            "SETTLEMENT_GRACE",
            DAY,
        ),
        (r"up to (\d+) phases back, `MAX_PHASES_BACK`", "RebalanceRules.sol", "MAX_PHASES_BACK", 1),
        (
            r"more than (\d+) phase changes since an expiry",
            "RebalanceRules.sol",
            "MAX_PHASES_BACK",
            1,
        ),
        (r"each capped at (\d+)k gas", "RebalanceRules.sol", "ROUND_READ_GAS", 1_000),
    ],
)
def test_a_figure_of_the_page_is_its_constant(
    pattern: str, contract: str, name: str, unit: int
) -> None:
    (figure,) = _said(pattern)
    assert figure * unit == constant(contract, name)


def test_the_look_ahead_and_its_residual_follow_max_ahead_rounds() -> None:
    (more,) = _said(r"(\d+) or more future-dated rounds in a row leave only the oracle change")
    assert more == constant("RebalanceRules.sol", "MAX_AHEAD_ROUNDS") + 1
    m = re.search(r"depositors get (\w+) days to exit", _doc())
    assert m is not None
    assert _WORDS[m[1]] * DAY == constant("OptionVault.sol", "ORACLE_TIMELOCK")


def test_the_search_of_an_older_phase_reads_at_most_twice_its_bits() -> None:
    # Doubling up to MAX_PHASE_ROUND, then halving: at most 2 x log2(MAX_PHASE_ROUND) reads.
    (reads,) = _said(r"at most (\d+) reads, each capped")
    assert reads == 2 * math.log2(constant("RebalanceRules.sol", "MAX_PHASE_ROUND"))


def test_the_largest_answer_is_max_answer() -> None:
    largest = constant("RebalanceRules.sol", "MAX_ANSWER")
    (bits,) = _said(r"answers > 0 and at most `2\^(\d+) - 1`")
    assert 2**bits - 1 == largest
    (bits,) = _said(r"use the latest answer in \(0, 2\^(\d+)\)")
    assert 2**bits == largest + 1


def test_the_premium_range_and_the_markup_a_deposit_captures() -> None:
    markup = Fraction(constant("RebalanceRules.sol", "MAX_PREMIUM_MARKUP_BPS"), 10_000)
    m = re.search(r"model value x (\d+(?:\.\d+)?)\]", _doc())
    assert m is not None
    assert Fraction(Decimal(m[1])) == 1 + markup
    part, whole = _said(r"at most (\d+)/(\d+) of the premium")
    assert Fraction(part) == markup * 100
    assert Fraction(whole) == (1 + markup) * 100


def test_the_vaults_room_under_eip_170_is_the_compiled_vaults() -> None:
    (left,) = _said(r"the vault has (\d+) bytes left under EIP-170's size limit")
    raw = json.loads(_artifact_path(artifacts_dir(), "OptionVault.sol", "OptionVault").read_text())
    runtime = bytes.fromhex(raw["deployedBytecode"]["object"].removeprefix("0x"))
    assert left == 24_576 - len(runtime)


def test_the_sandwich_bounds_follow_the_devnet_and_the_deploy_scripts_thresholds() -> None:
    text = _section("## Sandwich bound")
    m = re.search(
        r"devnet's thresholds \(slippage (\d+)%, gap (\d+)%, `maxTrade` (\d+) WETH"
        r" at ([\d,]+) USD\) that is at most ([\d,]+) USDC",
        text,
    )
    assert m is not None
    slippage, gap, max_trade, price, loss = (int(g.replace(",", "")) for g in m.groups())
    devnet = StackConfig()
    t = devnet.thresholds
    assert (slippage * 100, gap * 100) == (t.max_slippage_bps, t.max_oracle_gap_bps)
    assert (max_trade * WAD, price * 10**8) == (t.max_trade, devnet.price8)
    assert loss == slippage * max_trade * price / 100
    m = re.search(
        r"deploy script's defaults \(`maxTrade` (\d+) WETH, the same 1% bounds\)"
        r" at most ([\d,]+) USDC",
        text,
    )
    assert m is not None
    deploy_trade, deploy_loss = int(m[1]), int(m[2].replace(",", ""))
    script = (PROJECT_ROOT / "scripts" / "Deploy.s.sol").read_text()

    def default(key: str) -> int:
        d = re.search(rf'_uintOr\(json, "\.vault\.{key}", ([0-9e_]+)', script)
        assert d is not None, key
        return int(Decimal(d[1].replace("_", "")))

    assert deploy_trade * WAD == default("maxTrade")
    assert default("maxSlippageBps") == default("maxOracleGapBps") == 100
    assert deploy_loss == default("maxSlippageBps") * deploy_trade * price / 10_000


def test_the_constant_reader_evaluates_each_form_the_sources_use() -> None:
    # Every form a constant above is written in, and what the reader refuses.
    names = {"A": 4}.__getitem__
    assert value_of("0.01e18", names) == 10**16
    assert value_of("100_000", names) == 100_000
    assert value_of("2 days", names) == 2 * DAY
    assert value_of("1 minutes", names) == 60
    assert value_of("A + 1", names) == 5
    assert value_of("1 << 32", names) == 2**32
    assert value_of("type(int128).max", names) == 2**127 - 1
    assert value_of("type(uint64).max", names) == 2**64 - 1
    with pytest.raises(AssertionError):
        value_of('keccak256("X")', names)
    with pytest.raises(AssertionError):
        constant("RebalanceRules.sol", "NO_SUCH_CONSTANT")
