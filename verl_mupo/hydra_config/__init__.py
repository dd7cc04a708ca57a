"""Hydra config group for MUPO: ``hydra.searchpath=[pkg://verl_mupo.hydra_config] +mupo@algorithm.mupo=paper``."""
