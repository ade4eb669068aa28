"""The simulated BigCommerce store (``python -m local.store --port 8081 --seed 42``)."""

from local.store.data import RESOURCES, ResourceSpec
from local.store.server import SimulatedStore

__all__ = ["RESOURCES", "ResourceSpec", "SimulatedStore"]
