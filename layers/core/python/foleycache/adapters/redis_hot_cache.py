"""Redis (ElastiCache) as the L1 :class:`~foleycache.core.ports.HotCache`.

Every Redis failure becomes :class:`StorageUnavailable`, which the tiered
cache turns into a warning metric and a fall-through to L2: L1 is an
accelerator, never a dependency.
"""

from __future__ import annotations

from typing import Any

import redis

from foleycache.core.errors import StorageUnavailable


def connect(url: str) -> redis.Redis:
    """A client with short timeouts: a slow L1 must cost milliseconds, not the request."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        health_check_interval=30,
    )


class RedisHotCache:
    def __init__(self, client: Any) -> None:
        self.client = client

    def get(self, key: str, ttl_s: int) -> bytes | None:
        try:
            value: bytes | None = self.client.getex(key, ex=ttl_s)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis GETEX: {exc}") from exc
        return value

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        try:
            self.client.set(key, value, ex=ttl_s)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis SET: {exc}") from exc

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        try:
            return bool(self.client.set(key, value, ex=ttl_s, nx=True))
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis SET NX: {exc}") from exc

    def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        try:
            return int(self.client.unlink(*keys))
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis UNLINK: {exc}") from exc

    def delete_matching(self, pattern: str, batch: int) -> int:
        deleted = 0
        try:
            keys: list[bytes] = []
            for key in self.client.scan_iter(match=pattern, count=batch):
                keys.append(key)
                if len(keys) >= batch:
                    deleted += int(self.client.unlink(*keys))
                    keys.clear()
            if keys:
                deleted += int(self.client.unlink(*keys))
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis SCAN/UNLINK: {exc}") from exc
        return deleted

    def delete_matching_page(self, pattern: str, cursor: int, batch: int) -> tuple[int, int]:
        try:
            next_cursor, keys = self.client.scan(cursor=cursor, match=pattern, count=batch)
            removed = int(self.client.unlink(*keys)) if keys else 0
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis SCAN/UNLINK: {exc}") from exc
        return int(next_cursor), removed
