"""Model adapters: a small provider per backend, and one managed wrapper for all."""

from harness.adapters.base import (
    Adapter,
    AdapterOptions,
    Capabilities,
    GenerationParams,
    Request,
    Response,
)

__all__ = [
    "Adapter",
    "AdapterOptions",
    "Capabilities",
    "GenerationParams",
    "Request",
    "Response",
]
