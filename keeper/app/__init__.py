"""The application layer: what each command runs, between the CLI and observe/decide/act."""
