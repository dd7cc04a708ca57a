"""CPU smoke backend for verl 0.9.1: runs verl's real PPO loop on a machine without a GPU.

For smoke runs and tests of the MUPO integration, not for speed. Activated only by
``VERL_MUPO_CPU=1``: the plugin then imports :mod:`verl_mupo.cpu.activate` in every process that
imports verl; it is refused when CUDA is visible. Importing this package itself changes nothing.
Activation registers:

- a ``cpu`` platform in verl's ``PlatformRegistry`` (gloo collectives, Ray's logical ``GPU``
  resource, ``torch.cpu`` as the device module) - select it with ``VERL_PLATFORM=cpu``;
- a ``hf`` rollout (``actor_rollout_ref.rollout.name=hf``): a Ray actor that generates with
  ``transformers``, batching concurrent requests, returning token log-probs, and taking the
  trainer's weights every step.

``verl_mupo.cpu.assets`` builds the tiny tokenizer, model and dataset the smoke run uses.
"""
