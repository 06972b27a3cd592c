"""Redis sorted sets as the :class:`~foleycache.core.ports.HitRanking`.

One ``ZINCRBY`` per hit, pipelined with the TTL (every L1 key carries one, so Valkey may
evict it) and a trim to the ``keep`` highest: the set never grows past ``keep`` + 1
members, whatever the number of entries. A trimmed newcomer starts again from one hit;
with ``keep`` well above the N a prewarm asks for, the top N is exact in practice.
"""

from __future__ import annotations

from typing import Any

import redis

from foleycache.core.errors import StorageUnavailable


class RedisHitRanking:
    def __init__(self, client: Any) -> None:
        self.client = client

    def bump(self, key: str, member: str, ttl_s: int, keep: int) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.zincrby(key, 1, member)
            pipe.zremrangebyrank(key, 0, -(keep + 1))
            pipe.expire(key, ttl_s)
            pipe.execute()
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis ZINCRBY: {exc}") from exc

    def top(self, key: str, n: int) -> list[tuple[str, float]]:
        try:
            rows = self.client.zrevrange(key, 0, n - 1, withscores=True)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"redis ZREVRANGE: {exc}") from exc
        return [(m.decode() if isinstance(m, bytes) else str(m), float(s)) for m, s in rows]
