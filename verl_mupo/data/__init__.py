"""Data preparation: ViRL39K to verl parquet (``python -m verl_mupo.data.virl39k``)."""
