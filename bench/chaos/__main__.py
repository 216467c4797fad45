"""``python -m bench.chaos``: the fault-injection suite (``make chaos``); see ``docs/chaos.md``."""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.chaos.report import table
from bench.chaos.scenario import RUNNERS, SECTIONS, ChaosConfig

logger = logging.getLogger("bench")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the short version (a few minutes)")
    p.add_argument("--seed", type=int, default=7, help="market path, fault draws and kill times")
    p.add_argument("--rate", type=float, default=0.2, help="share of requests faulted (faults)")
    p.add_argument("--steps", type=int, help="market steps in baseline and faults")
    p.add_argument("--kills", type=int, help="SIGKILLs in the sigkill section")
    p.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    p.add_argument("--out", type=Path, default=Path("bench/results/chaos.json"))
    p.add_argument("--workdir", type=Path, default=Path("out/chaos"), help="logs and journals")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the sections, write the JSON, print the table; 0 on success."""
    args = parse(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[chaos %(asctime)s] %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown or not 0.0 <= args.rate <= 1.0:
        print(f"chaos: unknown sections {sorted(unknown)} or bad --rate", file=sys.stderr)
        return 2
    cfg = ChaosConfig.quick() if args.quick else ChaosConfig()
    cfg = replace(cfg, seed=args.seed, rate=args.rate, sections=sections, workdir=args.workdir)
    if args.steps is not None:
        cfg = replace(cfg, steps=args.steps)
    if args.kills is not None:
        cfg = replace(cfg, kills=args.kills)
    started = time.monotonic()
    result: dict[str, Any] = {}
    for name in sections:
        logger.info("section %s", name)
        t0 = time.monotonic()
        result[name] = RUNNERS[name](cfg)
        logger.info("section %s done in %.0f s", name, time.monotonic() - t0)
    result["meta"] = {
        "mode": "quick" if args.quick else "full",
        "seed": cfg.seed,
        "rate": cfg.rate,
        "steps": cfg.steps,
        "kills": cfg.kills,
        "spike_blocks": cfg.spike_blocks,
        "block_time_s": cfg.block_time,
        "rpc_timeout_s": cfg.rpc_timeout_s,
        "seconds": round(time.monotonic() - started, 1),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
