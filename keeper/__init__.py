"""Option-vault keeper: observe vaults on-chain, decide when a hedge is worth its cost, act."""

__version__ = "0.1.0"
