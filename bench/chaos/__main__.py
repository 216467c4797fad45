"""``python -m bench.chaos``: the fault-injection suite (``make chaos``); see ``docs/chaos.md``.

By default the sections run in two concurrent pairs, each section in a child process of its own
(its own anvil on a free port, its own workdir): ``baseline`` with ``faults`` (the same market at
0% and at ``--rate``), then ``sigkill`` with ``fee_spike``. ``--serial`` runs them one after
another in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.chaos.report import table
from bench.chaos.scenario import EXTRA_SECTIONS, RUNNERS, SECTIONS, ChaosConfig
from keeper.arguments import int_between

logger = logging.getLogger("bench")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the short version (a few minutes)")
    p.add_argument(
        "--seed",
        type=int_between(0),
        default=7,
        help="market path, fault draws and kill times (default 7)",
    )
    p.add_argument(
        "--rate",
        type=_share,
        default=0.2,
        help="share of requests faulted (faults), 0 to 1 (default 0.2)",
    )
    p.add_argument(
        "--steps",
        type=int_between(1),
        help=f"market steps in baseline and faults (default {ChaosConfig.steps}; "
        f"--quick {ChaosConfig.quick().steps})",
    )
    p.add_argument(
        "--kills",
        type=int_between(0),
        help=f"SIGKILLs in the sigkill section (default {ChaosConfig.kills}; "
        f"--quick {ChaosConfig.quick().kills})",
    )
    p.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {SECTIONS + EXTRA_SECTIONS} (harsh: only when named)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("bench/results/chaos.json"),
        help="results JSON (default bench/results/chaos.json)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path("out/chaos"),
        help="logs and journals (default out/chaos)",
    )
    p.add_argument(
        "--serial", action="store_true", help="one section after another (default: in pairs)"
    )
    args = p.parse_args(argv)
    known = SECTIONS + EXTRA_SECTIONS
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = [x for x in sections if x not in known]
    if unknown or not sections:
        p.error(f"--sections: unknown {unknown or 'none given'}; choose from {', '.join(known)}")
    return args


def _share(text: str) -> float:
    """An argparse ``type``: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


#: Sections run side by side (each pair on two anvils), one pair after the other.
PAIRS = (("baseline", "faults"), ("sigkill", "fee_spike"), ("harsh",))


def _child(name: str, cfg: ChaosConfig, quick: bool) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``python -m bench.chaos --serial --sections name`` with the same settings."""
    out = cfg.workdir / f"{name}.json"
    out.unlink(missing_ok=True)
    argv = [
        cfg.python,
        "-m",
        "bench.chaos",
        "--serial",
        "--sections",
        name,
        "--seed",
        str(cfg.seed),
        "--rate",
        str(cfg.rate),
        "--steps",
        str(cfg.steps),
        "--kills",
        str(cfg.kills),
        "--out",
        str(out),
        "--workdir",
        str(cfg.workdir),
        *(["--quick"] if quick else []),
    ]
    # The child's table goes nowhere (the parent prints the merged one); progress to stderr.
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL), out


def run_sections(cfg: ChaosConfig, quick: bool, serial: bool) -> dict[str, Any]:
    """Run ``cfg.sections``: here one by one, or in :data:`PAIRS` of child processes."""
    result: dict[str, Any] = {}
    if serial:
        for name in cfg.sections:
            logger.info("section %s", name)
            t0 = time.monotonic()
            result[name] = RUNNERS[name](cfg)
            logger.info("section %s done in %.0f s", name, time.monotonic() - t0)
        return result
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    groups = [[n for n in pair if n in cfg.sections] for pair in PAIRS]
    for group in (g for g in groups if g):
        t0 = time.monotonic()
        logger.info("sections %s, side by side", " + ".join(group))
        children = {name: _child(name, cfg, quick) for name in group}
        for name, (proc, out) in children.items():
            code = proc.wait()
            if code != 0 or not out.exists():
                raise SystemExit(f"chaos: section {name} failed (exit {code})")
            result[name] = json.loads(out.read_text())[name]
        logger.info("sections %s done in %.0f s", " + ".join(group), time.monotonic() - t0)
    return {name: result[name] for name in cfg.sections}


def machine() -> dict[str, Any]:
    """Where it ran: the usable cores and the CPU model (from ``/proc/cpuinfo``)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": cpu}


def main(argv: list[str] | None = None) -> int:
    """Run the sections, write the JSON, print the table; 0 on success."""
    args = parse(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[chaos %(asctime)s] %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    cfg = ChaosConfig.quick() if args.quick else ChaosConfig()
    # Absolute: the keeper runs in its section's directory and reads its files from there.
    workdir = args.workdir.resolve()
    cfg = replace(cfg, seed=args.seed, rate=args.rate, sections=sections, workdir=workdir)
    if args.steps is not None:
        cfg = replace(cfg, steps=args.steps)
    if args.kills is not None:
        cfg = replace(cfg, kills=args.kills)
    started = time.monotonic()
    result = run_sections(cfg, args.quick, args.serial)
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
        "concurrent": not args.serial,
        "python": platform.python_version(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
