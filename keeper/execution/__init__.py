"""Act: simulate, sign, journal, send, confirm, replace. The only package that signs."""
