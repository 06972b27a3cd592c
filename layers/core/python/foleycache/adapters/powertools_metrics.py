"""Powertools Metrics (CloudWatch EMF) as the core's :class:`MetricsSink`.

Each emit is one EMF record with exactly the dimensions its catalogue entry declares
(plus Powertools' ``service``): Powertools' shared buffer gives every metric of one
flush the same dimensions, which would put ``Tier`` on metrics that have none. The
record is printed at once, so a metric is not lost when a handler raises.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from foleycache.core.metrics import Metric


class PowertoolsMetrics:
    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace  # None: POWERTOOLS_METRICS_NAMESPACE

    def emit(self, metric: Metric, value: float = 1.0, **dimensions: str) -> None:
        metric.check(dimensions)
        with single_metric(
            name=metric.name,
            unit=MetricUnit(metric.unit.value),
            value=value,
            namespace=self.namespace,
            default_dimensions=dimensions,
        ):
            pass
