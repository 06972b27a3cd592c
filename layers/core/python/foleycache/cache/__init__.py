"""The cache: everything that decides whether the GPU must run, and remembers its work.

- ``names``: every stored name (Redis keys, S3 keys, DynamoDB items, invalidation
  patterns), built in one place;
- ``entry``: what one cached result is; ``tiered``: L1 (Redis) then L2 (S3);
- ``best_effort``: what happens when an optional store (L1, a near index) is down;
- ``near_index`` (multi-index layouts) and ``near_match`` (find, then verify);
- ``repeat_memory`` (exact repeats, remembered failures), ``hit_tracking``;
- maintenance: ``archival`` (by last hit) and ``invalidation`` (by model version).

It depends on ``core`` (keys, ports, errors) and ``fingerprint`` (the decision); the
pipeline depends on it, never the other way.
"""
