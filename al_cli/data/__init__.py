"""Data sources, all returning a DataSplit; the Pool and Oracle that hide the pool's labels."""

from al_cli.data.pool import Oracle, Pool
from al_cli.data.split import DataSplit, fingerprint, load_dataset, loader, place_inputs

__all__ = ["DataSplit", "Oracle", "Pool", "fingerprint", "load_dataset", "loader", "place_inputs"]
