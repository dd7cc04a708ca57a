import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "disabled")


@pytest.fixture(scope="module")
def tq_cluster():
    """A local Ray and a real TransferQueue (one SimpleStorage unit), as verl's trainer starts them."""
    import ray
    import transfer_queue as tq
    from omegaconf import OmegaConf

    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield tq
    tq.close()
    ray.shutdown()


@pytest.fixture(scope="session")
def vl_run(tmp_path_factory):
    """The VL smoke run the end-to-end tests share (``tests/smoke.py``: 6 MUPO steps on images,
    validation before training and every 2 steps, a checkpoint at step 3); one verl launch for
    ``test_e2e_cpu.py`` and ``test_report.py``."""
    from smoke import vl_smoke_run

    return vl_smoke_run(tmp_path_factory.mktemp("vl"))
