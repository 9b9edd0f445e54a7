"""Networks built from architectures: :func:`compile` turns an :class:`~graphnas.space.Architecture` into a
standalone :class:`Network` (retraining, export); :class:`Supernet` holds every candidate's weights once and
runs one sampled path per step, and ``extract`` cuts a path out as a standalone network."""

from .compile import Network, compile
from .supernet import Supernet

__all__ = ["Network", "compile", "Supernet"]
