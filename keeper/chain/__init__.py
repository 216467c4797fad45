"""Observe: everything that reads the chain. Nothing here decides or sends."""
