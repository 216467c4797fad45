"""The chaos report: ``bench/results/chaos.json`` and a short table."""

from __future__ import annotations

from typing import Any


def _btr(section: dict[str, Any], key: str = "blocks_to_rebalance") -> str:
    b = section.get(key) or {}
    vals = [b.get(k) for k in ("median", "p90", "max")]
    return " / ".join("-" if v is None else f"{v:g}" for v in vals)


def table(result: dict[str, Any]) -> str:
    """The issue's table (0% vs faults), then one line each for sigkill and fee_spike."""
    base, faults = result.get("baseline"), result.get("faults")
    lines: list[str] = []
    cols = [(name, s) for name, s in (("0% faults", base), ("faults", faults)) if s]
    if cols:
        heads = [
            f"{round(s['rate'] * 100)}% faults" if name == "faults" else name for name, s in cols
        ]
        rows: list[tuple[str, list[str]]] = [
            (
                "keeper process exits (halts / at start-up)",
                [f"{s['exits']} ({s['breaker_halts']} / {s['startup_exits']})" for _, s in cols],
            ),
            ("failed cycles / cycles", [f"{s['failed_cycles']} / {s['cycles']}" for _, s in cols]),
            ("blocks to rebalance, median / p90 / max", [_btr(s) for _, s in cols]),
            (
                "  the same, from the vault's trigger ready",
                [_btr(s, "blocks_to_rebalance_from_ready") for _, s in cols],
            ),
            (
                "needs served / lapsed",
                [f"{s['needs_served']} / {s['needs_lapsed']}" for _, s in cols],
            ),
            (
                "duplicate rebalances / nonce gaps",
                [f"{s['duplicate_rebalances']} / {s['nonce_gaps']}" for _, s in cols],
            ),
            ("orphan intents", [str(s["orphan_intents"]) for _, s in cols]),
            (
                "market steps (failed) / seconds",
                [
                    f"{s['market_steps']} ({s['market_step_failures']}) / {s['seconds']:g}"
                    for _, s in cols
                ],
            ),
        ]
        w0 = max(len(r[0]) for r in rows)
        widths = [max(len(h), *(len(r[1][i]) for r in rows)) for i, h in enumerate(heads)]
        lines.append(
            f"| {'':<{w0}} | "
            + " | ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
            + " |"
        )
        lines.append(f"|{'-' * (w0 + 2)}|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for label, vals in rows:
            cells = " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True))
            lines.append(f"| {label:<{w0}} | {cells} |")
    k = result.get("sigkill")
    if k:
        lines.append(
            f"sigkill: {k['kills']} kills {k['kills_by_point']}, nonce gaps {k['nonce_gaps']}, "
            f"duplicates {k['duplicates']}, rebroadcasts {k['rebroadcasts']} "
            f"(stale mined {k['stale_rebroadcasts_mined']}), exits {k['exits']}, "
            f"orphan intents {k['orphan_intents']}"
        )
    f = result.get("fee_spike")
    if f:
        lines.append(
            f"fee_spike: base fee {f['max_base_fee_gwei']:g} gwei vs cap {f['fee_cap_gwei']:g}: "
            f"halts {f['halts']}, stuck/fee alerts {f['alerts']} {f['alerts_by_kind']}, "
            f"blocks after the fee fell {f['blocks_after_fee_fell']}, exits {f['exits']}"
        )
    h = result.get("harsh")
    if h:
        lines.append(
            f"harsh: {round(h['rate'] * 100)}% faults {h['faults_by_kind']}, failover node "
            f"{h['lag_blocks']} blocks behind ({h.get('lagging_requests', 0)} requests, "
            f"{h['requests']} to the primary), base fee x100 of {h['spike_base_fee_gwei']:g} gwei: "
            f"exits {h['exits']} (halts {h['breaker_halts']}), failed cycles "
            f"{h['failed_cycles']} / {h['cycles']}, duplicates {h['duplicate_rebalances']}, "
            f"nonce gaps {h['nonce_gaps']}, orphan intents {h['orphan_intents']}, needs served "
            f"{h['needs_served']} / lapsed {h['needs_lapsed']}, false reorg alerts "
            f"{h['false_reorg_alerts']}, replaced nonces {h.get('replaced_nonces', '?')} "
            f"(unneeded {h.get('unneeded_replacements', '?')})"
        )
    meta = result.get("meta", {})
    if meta:
        lines.append(f"({meta.get('mode')}, seed {meta.get('seed')}, {meta.get('seconds')} s)")
    return "\n".join(lines)
