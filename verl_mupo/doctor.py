"""``python -m verl_mupo.doctor`` (also ``verl-mupo-doctor``): is MUPO registered with verl here,
and if not, why. Exit code 0 when every check passes, 1 otherwise."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import traceback


def run_checks() -> list[tuple[str, bool, str]]:
    """``(check, ok, detail)`` rows."""
    rows: list[tuple[str, bool, str]] = []
    try:
        ver = importlib.metadata.version("verl")
        from verl_mupo.glue.versions import check_verl_version

        check_verl_version()
        rows.append(("verl version", True, ver))
    except Exception as e:  # noqa: BLE001
        rows.append(("verl version", False, str(e)))
        return rows

    eps = [ep for ep in importlib.metadata.entry_points(group="verl.plugins") if ep.value.startswith("verl_mupo")]
    rows.append(("entry point verl.plugins", bool(eps),
                 ", ".join(f"{ep.name} = {ep.value}" for ep in eps) or "missing: reinstall with `pip install -e .`"))
    policy = os.getenv("VERL_USE_EXTERNAL_PLUGINS", "auto").strip().lower()
    allowed = policy == "auto" or any(ep.name in {p.strip() for p in policy.split(",")} for ep in eps)
    rows.append(("VERL_USE_EXTERNAL_PLUGINS", allowed or "verl_mupo" in os.getenv("VERL_USE_EXTERNAL_MODULES", ""),
                 f"{policy!r}" + ("" if allowed else ": excludes 'mupo'; unset it or add mupo")))

    try:
        import verl  # noqa: F401  runs verl's plugin discovery
    except Exception:  # noqa: BLE001
        rows.append(("import verl", False, traceback.format_exc(limit=3)))
        return rows
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

    # what `import verl` registered by itself, before this command imports anything of ours
    est, manager = "mupo" in ADV_ESTIMATOR_REGISTRY, "mupo" in REWARD_MANAGER
    reason = "registered by verl's plugin loading"
    if not (est and manager):
        try:  # verl hides plugin errors at DEBUG level: import it ourselves to show why
            importlib.import_module("verl_mupo.verl_plugin")
            reason = ("not registered by `import verl` (its plugin policy or entry point skipped it); importing "
                      "verl_mupo.verl_plugin by hand works")
        except Exception:  # noqa: BLE001
            reason = "not registered: " + traceback.format_exc(limit=4)
    rows.append(("adv estimator 'mupo' (core_algos.ADV_ESTIMATOR_REGISTRY)", est, reason))
    rows.append(("reward manager 'mupo' (reward_loop REWARD_MANAGER)", manager, reason))

    import verl.utils.config as config_module

    from verl_mupo.glue.patching import is_patched

    rows.append(("MUPO checks in verl validate_config", is_patched(config_module.validate_config), ""))
    try:
        from verl.trainer.ppo.v1 import PPOTrainer

        patched = is_patched(PPOTrainer._compute_advantage)
        rows.append(("hook on v1 PPOTrainer._compute_advantage", patched, "installed" if patched else "not installed"))
        val = [n for n in ("_maybe_log_val_generations", "_dump_generations", "_val_metrics_update")
               if not is_patched(getattr(PPOTrainer, n))]
        rows.append(("val-mupo/* validation metrics hook", not val,
                     "installed" if not val else f"not installed on {', '.join(val)}"))
    except Exception as e:  # noqa: BLE001
        rows.append(("hook on v1 PPOTrainer._compute_advantage", False, f"cannot import verl's v1 trainer: {e}"))
    try:
        from verl.trainer.ppo import ray_trainer

        missing = [name for name, fn in (("compute_advantage", ray_trainer.compute_advantage),
                                         ("compute_data_metrics", ray_trainer.compute_data_metrics),
                                         ("RayPPOTrainer.fit", ray_trainer.RayPPOTrainer.fit),
                                         ("RayPPOTrainer._val_metrics_update",
                                          ray_trainer.RayPPOTrainer._val_metrics_update)) if not is_patched(fn)]
        rows.append(("hook on the legacy trainer (trainer.use_v1=false)", not missing,
                     "installed" if not missing else f"not installed on {', '.join(missing)}"))
    except Exception as e:  # noqa: BLE001
        rows.append(("hook on the legacy trainer (trainer.use_v1=false)", False, f"cannot import it: {e}"))
    import verl.utils.tensordict_utils as td_utils

    from verl_mupo.glue.mrope_fix import SWITCH, UPSTREAM_FIX, fix_applies

    fixed = is_patched(td_utils.maybe_fix_3d_position_ids)
    try:
        wanted = fix_applies()
        why = ("installed" if fixed else "not installed") if wanted else (
            f"off: {SWITCH}=0" if os.environ.get(SWITCH, "1").strip() == "0" else
            f"off: verl has its own {UPSTREAM_FIX}" if hasattr(td_utils, UPSTREAM_FIX) else "off: not this verl's bug")
    except ValueError as e:
        wanted, why = True, str(e)
    rows.append(("mRoPE position-id fix (docs/mrope_position_bug.md)", fixed == wanted, why))
    st = importlib.util.find_spec("sentence_transformers") is not None
    rows.append(("sentence-transformers", st, "importable" if st else "`pip install sentence-transformers`"))
    from verl_mupo.glue.reward_deps import grader_problem

    problem = grader_problem()
    rows.append(("grader's symbolic stage (math-verify)", problem is None,
                 "\\frac{1}{2} = 0.5 decided" if problem is None else problem))
    return rows


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    rows = run_checks()
    width = max(len(r[0]) for r in rows)
    for name, ok, detail in rows:
        print(f"[{'ok' if ok else 'FAIL'}] {name.ljust(width)}  {detail}".rstrip())
    ok = all(r[1] for r in rows)
    print("verl_mupo doctor: " + ("MUPO is registered with verl" if ok else "MUPO is NOT usable here"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
