"""The hot near-duplicate index in Redis: one SET per bucket, read in one pipelined round trip."""

from __future__ import annotations

from typing import Any

import redis

from foleycache.cache import names
from foleycache.core.errors import StorageUnavailable


def bucket_key(scope: str, bucket: str) -> str:
    return names.redis_index_bucket(scope, bucket)


class RedisNearIndex:
    def __init__(self, client: Any, ttl_s: int) -> None:
        self.client = client
        self.ttl_s = ttl_s

    def add(self, scope: str, buckets: list[str], member: str) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for bucket in buckets:
                pipe.sadd(bucket_key(scope, bucket), member)
                pipe.expire(bucket_key(scope, bucket), self.ttl_s)
            pipe.execute()
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis index add: {exc}") from exc

    def remove(self, scope: str, buckets: list[str], member: str) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for bucket in buckets:
                pipe.srem(bucket_key(scope, bucket), member)
            pipe.execute()
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis index remove: {exc}") from exc

    def members(self, scope: str, buckets: list[str]) -> set[str]:
        try:
            pipe = self.client.pipeline(transaction=False)
            for bucket in buckets:
                pipe.smembers(bucket_key(scope, bucket))
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis index read: {exc}") from exc
        return {m.decode() if isinstance(m, bytes) else m for reply in replies for m in reply}
