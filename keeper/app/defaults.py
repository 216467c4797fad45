"""Defaults that a command's ``--help`` shows, apart from the modules that use them.

``keeper --help`` builds every command's parser; each command imports what it runs (web3, the
devnet) only when it runs, so the help names these without loading any of it.
"""

from __future__ import annotations

from keeper.locations import PROJECT_ROOT

#: The demo's keeper policy: the cost-aware rule (the product's point), acting when the vault's
#: own trigger allows and the priced risk reduction beats the cost. γ = 1e-2 per USD² keeps the
#: vaults in their bands 98% of the time in `keeper demo --steps 60` (29 vault rebalances; README,
#: "Policy").
DEFAULT_POLICY = "costaware:risk_aversion=1e-2"

#: The anvil dev account the rehearsal signs with (index into ``ANVIL_KEYS``): the last one, the
#: least likely to be in use on a devnet being forked.
DEFAULT_KEEPER_INDEX = 9

#: Where ``vite build`` writes the depositors' app (``make install`` or ``make web`` builds it).
DEFAULT_DIST = PROJECT_ROOT / "web" / "dist"
#: How many blocks back the page reads events and samples history, unless told otherwise.
DEFAULT_HISTORY_BLOCKS = 5_000
