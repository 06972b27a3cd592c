"""Builds the real adapters once per process (per Lambda container).

Endpoints are not configured here: boto3 reads ``AWS_ENDPOINT_URL_<SERVICE>``
itself, so the local stack and AWS run this same code.
"""

from __future__ import annotations

from functools import lru_cache

import boto3
from botocore.config import Config

from foleycache.adapters.dynamodb_catalog import DynamoCatalog
from foleycache.adapters.dynamodb_jobs import DynamoJobStore
from foleycache.adapters.dynamodb_leases import DynamoLeaseStore
from foleycache.adapters.dynamodb_near_index import DynamoNearIndex
from foleycache.adapters.dynamodb_pending_runs import DynamoPendingRuns
from foleycache.adapters.dynamodb_versions import DynamoVersionRegistry
from foleycache.adapters.powertools_metrics import PowertoolsMetrics
from foleycache.adapters.redis_hit_ranking import RedisHitRanking
from foleycache.adapters.redis_hot_cache import RedisHotCache, connect
from foleycache.adapters.redis_near_index import RedisNearIndex
from foleycache.adapters.s3_blobs import S3BlobStore
from foleycache.adapters.sagemaker_inference import SageMakerFoley
from foleycache.adapters.stepfunctions_workflow import StepFunctionsWorkflow
from foleycache.core.clock import SystemClock
from foleycache.services import Services
from foleycache.settings import Settings, get_settings

_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=70
)
# InvokeEndpointAsync is retried by the state machine, never by the client: a client
# retry after a read timeout queues a second GPU run.
_NO_CLIENT_RETRY = Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


@lru_cache(maxsize=1)
def services() -> Services:
    settings = get_settings()
    session = boto3.session.Session()
    s3 = session.client("s3", config=_CONFIG)
    dynamodb = session.client("dynamodb", config=_CONFIG)
    clock = SystemClock()
    redis_client = connect(settings.redis_url) if settings.redis_url else None
    return Services(
        settings=settings,
        uploads=S3BlobStore(s3, settings.uploads_bucket),
        cache_blobs=S3BlobStore(s3, settings.cache_bucket),
        hot=RedisHotCache(redis_client) if redis_client is not None else None,
        jobs=DynamoJobStore(dynamodb, settings.table_name),
        leases=DynamoLeaseStore(dynamodb, settings.table_name),
        inference=SageMakerFoley(
            session.client("sagemaker-runtime", config=_NO_CLIENT_RETRY),
            s3,
            settings.endpoint_name,
            input_bucket=settings.cache_bucket,
            endpoints={v: settings.endpoint_for(v) for v in _served_versions(settings)},
        ),
        pending=DynamoPendingRuns(dynamodb, settings.table_name, clock.now),
        workflow=StepFunctionsWorkflow(
            session.client("stepfunctions", config=_CONFIG), settings.state_machine_arn or ""
        ),
        clock=clock,
        metrics=PowertoolsMetrics(),
        catalog=DynamoCatalog(dynamodb, settings.table_name),
        hot_index=(
            RedisNearIndex(redis_client, settings.l1_ttl_s) if redis_client is not None else None
        ),
        durable_index=DynamoNearIndex(dynamodb, settings.table_name),
        ranking=RedisHitRanking(redis_client) if redis_client is not None else None,
        versions=DynamoVersionRegistry(dynamodb, settings.table_name),
    )


def _served_versions(settings: Settings) -> tuple[str, ...]:
    """The stable version, and the candidate when its endpoint is configured."""
    if settings.candidate_model_version and settings.candidate_endpoint_name:
        return (settings.model_version, settings.candidate_model_version)
    return (settings.model_version,)


# Cold start: a function whose environment lacks a setting fails here, at import (the
# init phase), rather than on its first request.
get_settings()
