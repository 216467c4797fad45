"""Defaults that a command's ``--help`` shows, apart from the modules that use them.

``keeper --help`` builds every command's parser; each command imports what it runs (web3, the
devnet) only when it runs, so the help names these without loading any of it.
"""

from __future__ import annotations

from keeper.locations import PROJECT_ROOT

#: The demo's keeper policy: the cost-aware rule (the product's point), acting when the vault's
#: own trigger allows and the priced risk reduction beats the cost. γ = 1e-2 per USD² keeps the
#: vaults in their bands 98% of the time in `keeper demo --steps 60` (28 vault rebalances; README,
#: "Policy").
DEFAULT_POLICY = "costaware:risk_aversion=1e-2"

#: The anvil dev account the rehearsal signs with (index into ``ANVIL_KEYS``): the last one, the
#: least likely to be in use on a devnet being forked.
DEFAULT_KEEPER_INDEX = 9

#: Where ``vite build`` writes the depositors' app (``make install`` or ``make web`` builds it).
DEFAULT_DIST = PROJECT_ROOT / "web" / "dist"
#: How many blocks back the page reads events and samples history, unless told otherwise.
DEFAULT_HISTORY_BLOCKS = 5_000

# -- the live cost model's gas (KEEPER_GAS_*; CycleConfig) --------------------------------------
# Measured by bench/batching.py: batches of 2 to 25 vaults and lone vaults, 4 series a vault, on a
# real Uniswap V3 pool (docs/benchmarks.md, "Batching gain"). Each is the *recurring* figure (the
# vault holds underlying already, as one that keeps hedging does), rounded up; a buy by a vault
# that holds none adds LIVE_GAS_FIRST_BUY. The backtester keeps its own figures
# (keeper/strategy/costs.py, DEFAULT_GAS_*), which its published results were measured with.
#: A batch besides its vaults and its swap: the intrinsic 21,000, calldata, the batcher's loop,
#: receipt checks and events (an estimate: the bench measures only its sum with the swap, ~134k
#: to ~143k between runs).
LIVE_GAS_FIXED = 30_000
#: One vault inside a batch: the marginal vault of the batches of 10 and 25, 109,688 gas
#: (2026-12-07 10:24 UTC; 126,727 on a first purchase). With LIVE_GAS_FIXED and LIVE_GAS_SWAP a
#: batch of 10 is priced at 1,236,000 gas against 1,233,500 measured (10 x 123,350).
LIVE_GAS_PER_VAULT = 110_000
#: The batch's one pool swap (per pool): the batch besides its vaults less LIVE_GAS_FIXED,
#: ~104k to ~113k between runs.
LIVE_GAS_SWAP = 106_000
#: A lone vault's own rebalance() (its swap included), the direct path: 210,406 gas
#: (2026-12-07 13:01 UTC; 227,433 on a first purchase).
LIVE_GAS_DIRECT = 211_000
#: What the batcher adds to a lone vault's own rebalance when the keeper sends it a batch of one
#: (the signer lacks the vault's keeper role, or KEEPER_DIRECT_SINGLE is off). The batcher's
#: path for one vault is its own (RebalanceBatcher.rebalanceBatch, ``n == 1``: the vault swaps its
#: own trade, nothing crosses), so a batch of one is priced at KEEPER_GAS_DIRECT plus this, not at
#: LIVE_GAS_FIXED + LIVE_GAS_PER_VAULT + LIVE_GAS_SWAP (246,000). Measured 13,966 (2026-12-07
#: 18:01 UTC, bench/results/latest.json "batch_details"), first purchase (241,399 - 227,433) and
#: recurring (224,372 - 210,406) alike. Both paths' runs hold a second figure 3,876 higher, the
#: swap's other path (245,275 / 231,309 first, 228,248 / 214,282 recurring): the batch of one's
#: medians (245,275, 228,248) sit on it while the lone vault's (227,433, 210,406) do not, so
#: their difference, 17,842, is not the batcher's. With LIVE_GAS_DIRECT a batch of one is priced
#: at 225,000 recurring and 242,100 on a first purchase. No setting: it is the batcher's own
#: code, and it follows KEEPER_GAS_DIRECT.
LIVE_GAS_BATCHER_ONE = 14_000
#: What a buy costs more when its vault holds no underlying: its balance written from zero, an
#: SSTORE of 20,000 gas instead of 2,900 (EIP-2200), 17,100. Measured (2026-12-07): 17,039 a
#: vault in a batch (126,727 - 109,688) and 17,027 alone (227,433 - 210,406). Charged when the
#: vault's recorded inventory is 0 (keeper/strategy/planner.py, ``_first_buys``, says why not its
#: balance); 17,100 exactly in tests/integration/test_cost_per_pool_onchain.py (a lone buy with
#: and without WETH sent to the vault first).
LIVE_GAS_FIRST_BUY = 17_100
