"""Powertools Metrics (CloudWatch EMF) as the core's :class:`MetricsSink`."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

#: The dimension a canary's two sides are compared by (hit ratio, latency, failures).
MODEL_VERSION_DIMENSION = "ModelVersion"


class PowertoolsMetrics:
    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics or Metrics()

    def count(self, name: str, value: float = 1.0) -> None:
        self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def timing_ms(self, name: str, ms: float) -> None:
        self.metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=ms)

    def size_bytes(self, name: str, n: float) -> None:
        self.metrics.add_metric(name=name, unit=MetricUnit.Bytes, value=n)

    def count_for_version(self, name: str, model_version: str, value: float = 1.0) -> None:
        """Its own EMF record: the handler's metrics share one dimension set, and the
        version is this count's alone."""
        with single_metric(
            name=name, unit=MetricUnit.Count, value=value, namespace=self.metrics.namespace
        ) as metric:
            metric.add_dimension(MODEL_VERSION_DIMENSION, model_version or "unknown")
