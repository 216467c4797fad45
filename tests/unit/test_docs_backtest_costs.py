"""docs/backtest.md's cost defaults are the ones ``keeper backtest --costs l2`` prices with.

The table of defaults (gas, L1 fees, ETH price, pool fee, impact), the batch formula under it and
the dollar figures after it quote numbers that ``keeper.strategy.costs`` defines; nothing held
them together. The live keeper's gas defaults (``Settings``) differ from the backtester's, and
docs/demo.md quotes the live ones: the page now says so, and names them, checked here too.
"""

from __future__ import annotations

import re

import pytest

from keeper.commands.backtest import cost_flag_values
from keeper.locations import PROJECT_ROOT
from keeper.settings import Settings
from keeper.strategy.costs import l2_default_costs
from keeper.strategy.types import CostInputs

DOC = PROJECT_ROOT / "docs" / "backtest.md"


def _number(cell: str) -> float:
    """The first number of a table cell: ``111,000``, ``0.01 gwei``, ``7.26e9 wei (…)``."""
    m = re.match(r"\s*([0-9][0-9,]*(?:\.[0-9]+)?(?:e-?[0-9]+)?)", cell)
    assert m is not None, cell
    return float(m.group(1).replace(",", ""))


def _table() -> dict[str, float]:
    """``--flag`` -> the default the cost table gives it."""
    rows = re.findall(r"^\| [^|]+ \| ([^|]+) \| `(--[a-z0-9-]+)` \|", DOC.read_text(), flags=re.M)
    return {flag: _number(default) for default, flag in rows}


def _code(c: CostInputs) -> dict[str, float]:
    """``--flag`` -> the value ``keeper backtest --costs l2`` gives it for ``c``."""
    return {f"--{dest.replace('_', '-')}": v for dest, v in cost_flag_values(c).items()}


def test_the_cost_table_gives_each_flag_its_default() -> None:
    said, code = _table(), _code(l2_default_costs())
    assert set(said) == set(code), "a cost flag is missing from the table, or one is extra"
    for flag, value in code.items():
        # The two L1 fees are written to three significant digits (1.08e10), the rest exactly.
        assert said[flag] == pytest.approx(value, rel=5e-3 if "l1-fee" in flag else 0), flag


def test_the_batch_formula_and_the_lone_vault_follow_the_defaults() -> None:
    text = " ".join(DOC.read_text().split())
    c = l2_default_costs()
    m = re.search(r"gas_swap`: ([0-9,]+) \+ ([0-9,]+)·N", text)
    assert m is not None
    assert _number(m.group(1)) == c.gas_fixed + c.gas_swap
    assert _number(m.group(2)) == c.gas_per_vault
    m = re.search(
        r"A vault alone, sent to itself, costs ([0-9,]+) .*?a batch of one would be ([0-9,]+)\)",
        text,
    )
    assert m is not None
    assert _number(m.group(1)) == c.gas_direct
    assert _number(m.group(2)) == c.gas_fixed + c.gas_per_vault + c.gas_swap


def test_the_dollar_cost_of_a_rebalance_follows_the_defaults() -> None:
    text = " ".join(DOC.read_text().split())
    m = re.search(
        r"one rebalance costs about \$([0-9.]+) in gas and L1 fee \(\$([0-9.]+) as a batch", text
    )
    assert m is not None
    c = l2_default_costs()
    direct = (c.gas_direct * c.gas_price_wei + c.l1_fee_direct_wei) * c.eth_usd / 1e18
    one = c.gas_fixed + c.gas_per_vault + c.gas_swap
    l1_one = c.l1_fee_fixed_wei + c.l1_fee_per_vault_wei
    batch = (one * c.gas_price_wei + l1_one) * c.eth_usd / 1e18
    assert float(m.group(1)) == pytest.approx(direct, abs=5e-5)
    assert float(m.group(2)) == pytest.approx(batch, abs=5e-5)


def test_the_live_keepers_gas_defaults_are_named_as_they_are() -> None:
    text = " ".join(DOC.read_text().split())
    start = text.index("The live keeper's own defaults are not these")
    paragraph = text[start : text.index("under 1%", start)]
    named = {
        name: _number(value)
        for name, value in re.findall(r"`KEEPER_(GAS_[A-Z_]+)` (?:is )?([0-9,]+)", paragraph)
    }
    assert named, "the paragraph names no setting"
    for name, value in named.items():
        assert Settings.model_fields[name.lower()].default == value, name
    live = {n: Settings.model_fields[f"gas_{n}"].default for n in ("fixed", "per_vault", "swap")}
    # Named are at least the ones that differ from the backtester's.
    c = l2_default_costs()
    differ = {f"GAS_{n.upper()}" for n, v in live.items() if v != getattr(c, f"gas_{n}")}
    if Settings.model_fields["gas_direct"].default != c.gas_direct:
        differ.add("GAS_DIRECT")
    assert differ <= set(named)
