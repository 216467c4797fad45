"""CLI subcommands. Each module here defines ``register(subparsers)``; ``keeper.cli`` finds them."""
