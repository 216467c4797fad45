"""The application: what each ``keeper`` command runs, between the CLI and observe/decide/act.

- :mod:`keeper.app.cycle`: one cycle (settle, observe, price, decide, act) -> ``CycleResult``;
- :mod:`keeper.app.observe`: the lens snapshot -> the healthy vaults, with oracle alerts;
- :mod:`keeper.app.market`: the vol forecast and what a batch costs this cycle;
- :mod:`keeper.app.act`: plan -> simulate -> journal -> send -> account, with metrics;
- :mod:`keeper.app.loop`: :class:`~keeper.app.loop.Runner`, one cycle per new block, the breaker;
- :mod:`keeper.app.wiring`: :func:`~keeper.app.wiring.build_keeper` from settings;
- :mod:`keeper.app.rehearse`, :mod:`keeper.app.demo`: ``keeper rehearse`` and ``keeper demo``;
- :mod:`keeper.app.depositor`: ``keeper vault``, the depositor client.

Nothing is imported here, so ``import keeper.app`` loads nothing heavy.
"""
