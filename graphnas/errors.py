"""The graphnas exception family.

Every error a user can cause by bad input (a malformed architecture file, an operator that is not
in the space, an unknown space name, ...) is a :class:`GraphnasError`. Its message names the bad
value and says what is expected instead; the CLI prints it as one line and exits with status 2.
"""

__all__ = [
    "GraphnasError",
    "ArchitectureError",
    "SpaceError",
    "OpError",
    "ConstraintError",
    "DataError",
    "RenderError",
    "CheckpointError",
    "EstimatorError",
    "LatencyError",
    "LookupTableError",
    "PredictorError",
]


class GraphnasError(Exception):
    """Base class of all errors graphnas raises on bad input."""


class ArchitectureError(GraphnasError, ValueError):
    """An architecture (choice vector, op list or JSON) does not fit its search space."""


class SpaceError(GraphnasError, ValueError):
    """A search space is unknown, malformed, or asked for at an impossible scale."""


class OpError(GraphnasError, ValueError):
    """An operator name is unknown, or cannot join the two feature maps it is asked to."""


class ConstraintError(GraphnasError, ValueError):
    """A cost limit is malformed (missing unit, negative) or cannot be met."""


class DataError(GraphnasError, ValueError):
    """A data set is missing or malformed."""


class RenderError(GraphnasError, RuntimeError):
    """Rendering failed (for example, the graphviz `dot` binary is not installed)."""


class CheckpointError(GraphnasError, ValueError):
    """A checkpoint is unreadable, truncated, or was made for another space, model or training config."""


class EstimatorError(GraphnasError, ValueError):
    """Estimator or ranking input is malformed (weights that do not fit, mismatched score vectors, ...)."""


class LatencyError(GraphnasError, ValueError):
    """A latency table is missing, corrupt, incomplete, or was built for another space, scale or device."""


class LookupTableError(GraphnasError, ValueError):
    """A lookup table is missing, corrupt, incomplete, built for another space, or lacks the metric a query asks for."""


class PredictorError(GraphnasError, ValueError):
    """Accuracy-predictor input is malformed (labels outside the space, too few labels, an unsupported space, ...)."""
