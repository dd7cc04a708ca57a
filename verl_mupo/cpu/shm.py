"""Remove the shared-memory files a vLLM smoke run leaves in ``/dev/shm``::

    python -m verl_mupo.cpu.shm snapshot BEFORE.json     # before the run
    python -m verl_mupo.cpu.shm clean BEFORE.json        # after it: prints what it removed

verl's weight sync over shared memory (``verl_weights_<uuid>``, ``bucketed_weight_transfer.py:190``)
and vLLM's message queues (``psm_<hex>``, Python's ``multiprocessing.shared_memory``) create files in
``/dev/shm``; a run that is killed, or that fails in a sync (the sender never unlinks its bucket),
leaves them behind, and each can hold a weight bucket. :func:`clean` removes only files that match
:data:`PATTERNS`, did not exist at the snapshot, and that no live process has open or mapped, so a
concurrent run of someone else keeps its files.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
from pathlib import Path

SHM = Path("/dev/shm")
PATTERNS = ("verl_weights_*", "psm_*", "vllm_*")


def candidates(shm: Path = SHM, patterns=PATTERNS) -> set[str]:
    """Names in ``shm`` matching ``patterns``."""
    if not shm.is_dir():
        return set()
    return {p.name for p in shm.iterdir() if any(fnmatch.fnmatch(p.name, pat) for pat in patterns)}


def in_use(shm: Path = SHM) -> set[str]:
    """Names of files in ``shm`` that a live process has open (``/proc/*/fd``) or mapped
    (``/proc/*/maps``); processes this user cannot read are skipped."""
    used = set()
    prefix = str(shm) + "/"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith(prefix):
                    used.add(target[len(prefix):].split(" ")[0])
            for line in (proc / "maps").read_text().splitlines():
                idx = line.find(prefix)
                if idx >= 0:
                    used.add(line[idx + len(prefix):].split(" ")[0])
        except OSError:
            continue
    return used


def clean(before: set[str], shm: Path = SHM, patterns=PATTERNS) -> list[str]:
    """Remove the files of :func:`candidates` that are not in ``before`` and not :func:`in_use`;
    returns their names, sorted."""
    new = candidates(shm, patterns) - set(before)
    if not new:
        return []
    removed = []
    for name in sorted(new - in_use(shm)):
        try:
            (shm / name).unlink()
            removed.append(name)
        except FileNotFoundError:
            continue
    return removed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("snapshot", "clean"))
    p.add_argument("state", help="the JSON file the snapshot writes and clean reads")
    p.add_argument("--shm", default=str(SHM), help="the shared-memory folder (default /dev/shm)")
    args = p.parse_args(argv)
    shm = Path(args.shm)
    if args.command == "snapshot":
        Path(args.state).write_text(json.dumps(sorted(candidates(shm))))
        return 0
    state = Path(args.state)
    if not state.exists():
        p.error(f"{state} does not exist: run `python -m verl_mupo.cpu.shm snapshot {state}` before the run")
    removed = clean(set(json.loads(state.read_text())), shm)
    if removed:
        print(f"removed {len(removed)} file(s) the run left in {shm}: {' '.join(removed[:5])}"
              + (" ..." if len(removed) > 5 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
