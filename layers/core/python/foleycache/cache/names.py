"""Every stored name, built here and nowhere else: Redis keys, S3 keys and prefixes,
DynamoDB items, and the patterns that select a whole version for invalidation.

Why one module: invalidation and archival select names by pattern, so the pattern
and the names it must match have to be written side by side.

Two kinds of name. What is known of a *video* does not depend on the model: its
fingerprint, the exact-bytes records (upload bytes -> fingerprint) and the
near-duplicate index live in the *library*, ``lib:fp{fingerprint version}``, scoped
by prompt digest and shared by every model version, so a new model finds known
videos without decoding them. The *sound* does depend on the model: entries live
under the namespace ``{model version}/fp{fingerprint version}``, which is what makes a
new model a new namespace that never addresses an old model's sound. A new
fingerprint version is a new library and a new namespace alike.

Redis: ``fc:{namespace}:e:...`` for entries, ``fc:lib:fp{v}:{prompt md5}:{f,ix}:...``
and ``fc:lib:fp{v}:{sha}:{prompt md5}[:{mode}]:x`` for the library, ``fc:neg:{model}:...``
for remembered failures, ``fc:hit:...`` for the once-a-day hit markers. (A model
version cannot contain ``:``, so ``fc:{model}/*`` never selects the library.)
S3 (cache bucket): ``cache/{namespace}/{fingerprint}/{prompt md5}/{entry.json,foley.wav}``
for the sound, ``cache/_library/fp{v}/{fingerprint}/{prompt md5}/fingerprint.json`` for
the library's fingerprints (a model version cannot start with ``_``, so
``cache/{model}/`` never selects it; it stays under ``cache/`` for the existing grants).
DynamoDB (one table, ``pk``/``sk``): ``JOB#``, ``LEASE#``, ``X#`` (exact bytes, library),
``E#`` (entry bookkeeping), ``HITDAY#``, ``IX#`` (near index buckets, library),
``ARCHIVAL#`` (how far archival has got).

Before the library, the index and the exact records were namespaced by model version
too (``fc:{namespace}:...:x``, ``X#{namespace}:...``, ``IX#{namespace}:...``); those
names are no longer read, so such records are misses (a known upload is decoded once
more), and ``redis_version_patterns`` still selects the Redis ones of their version.
"""

from __future__ import annotations

import base64
import binascii

from foleycache.core.keys import CacheKey, validate_model_version

# --- identities ------------------------------------------------------------------------


def entry_id(key: CacheKey) -> str:
    """One entry, as bookkeeping and hit tracking name it."""
    return f"{key.namespace}#{key.fingerprint}#{key.prompt_md5}"


def parse_entry_id(text: str) -> CacheKey:
    ns, fingerprint, digest = text.split("#")
    model_version, fp = ns.rsplit("/fp", 1)
    return CacheKey(fingerprint, digest, model_version, int(fp))


def library_namespace(fingerprint_version: int) -> str:
    """The library of one fingerprint version: shared by every model version."""
    return f"lib:fp{int(fingerprint_version)}"


def index_scope(key: CacheKey) -> str:
    """Near-duplicate candidates are looked for under one fingerprint version and prompt,
    in the library: every model version finds the same known videos (the key's model
    version plays no part)."""
    return f"{library_namespace(key.fingerprint_version)}:{key.prompt_md5}"


def _sha_hex(sha256_b64: str) -> str:
    try:
        return base64.b64decode(sha256_b64, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def exact_scope(
    fingerprint_version: int,
    sha256_b64: str,
    prompt_digest: str,
    audio_mode: str = "replace",
) -> str:
    """The same bytes (S3's SHA-256), prompt and deliverable (audio mode), in the library of
    one fingerprint version: any model version finds the fingerprint of bytes it has seen.
    (``replace``, the default, adds nothing to the name.)"""
    scope = f"{library_namespace(fingerprint_version)}:{_sha_hex(sha256_b64)}:{prompt_digest}"
    return scope if audio_mode == "replace" else f"{scope}:{audio_mode}"


# --- Redis (L1) -------------------------------------------------------------------------


def redis_entry(key: CacheKey) -> str:
    return f"fc:{key.namespace}:e:{key.fingerprint}:{key.prompt_md5}"


def redis_library_fingerprint(key: CacheKey) -> str:
    """The fingerprint a known video was stored with (the key's model version plays no part)."""
    return f"fc:{index_scope(key)}:f:{key.fingerprint}"


def redis_exact_record(scope: str) -> str:
    return f"fc:{scope}:x"


def redis_failure(model_version: str, sha256_b64: str, prompt_digest: str) -> str:
    return f"fc:neg:{model_version}:{_sha_hex(sha256_b64)}:{prompt_digest}"


def redis_hit_marker(entry: str, day: str) -> str:
    return f"fc:hit:{entry}:{day}"


def redis_index_bucket(scope: str, bucket: str) -> str:
    return f"fc:{scope}:ix:{bucket}"


def redis_hit_ranking(namespace_: str) -> str:
    """The bounded sorted set of one namespace's most-hit entries (member: entry id).
    Under the namespace, so invalidating a version drops its ranking too."""
    return f"fc:{namespace_}:top"


def span_bucket(layout: str, block: int, value: int) -> str:
    """One bucket of the span index (time-local codes, ``cache.span_index``); it lives in the
    near index's stores under ``index_scope``, its layout name keeps it apart."""
    return f"{layout}:{block}:{value:x}"


def span_member(fingerprint: str, sample: int, code: int) -> str:
    """A posting: the stored video, where its window starts (span samples), its code."""
    return f"{fingerprint}:{sample}:{code:016x}"


def parse_span_member(member: str) -> tuple[str, int, int]:
    fingerprint, sample, code = member.split(":")
    return fingerprint, int(sample), int(code, 16)


def redis_version_patterns(model_version: str) -> tuple[str, ...]:
    """Globs matching every L1 key of one model version: its sound (entries), remembered
    failures, and the index and exact records it had before the library. Never the library,
    which the other model versions share."""
    version = validate_model_version(model_version)
    return (f"fc:{version}/*", f"fc:neg:{version}:*")


# --- S3 (L2, and the uploads bucket) -------------------------------------------------------


def l2_prefix(key: CacheKey) -> str:
    return f"cache/{key.namespace}/{key.fingerprint}/{key.prompt_md5}/"


def l2_entry(key: CacheKey) -> str:
    """The commit point: written last, after the audio."""
    return l2_prefix(key) + "entry.json"


def l2_audio(key: CacheKey) -> str:
    return l2_prefix(key) + "foley.wav"


def l2_composed_audio(key: CacheKey, job_id: str) -> str:
    """A composition made at lookup, without the lease: one job's own object beside the
    key's (see ``resolve._spans``)."""
    return l2_prefix(key) + f"foley-{job_id}.wav"


def generated_audio(inference_id: str) -> str:
    """Where a partial run's generated spans land before they are composed with the reused
    ones into ``l2_audio`` (reuse across cuts): scratch, expired with the run's other
    ``inference/`` objects."""
    return f"inference/generated/{inference_id}.wav"


def l2_version_prefix(model_version: str) -> str:
    """Every L2 object of one model version: its sound only (the library is elsewhere)."""
    return f"cache/{validate_model_version(model_version)}/"


def l2_library_fingerprint(key: CacheKey) -> str:
    return (
        f"cache/_library/fp{int(key.fingerprint_version)}/{key.fingerprint}/{key.prompt_md5}/"
        "fingerprint.json"
    )


def upload_key(uploads_prefix: str, job_id: str, filename: str) -> str:
    return f"{uploads_prefix}{job_id}/{filename[:120]}"


def outputs_prefix(prefix: str, job_id: str) -> str:
    return f"{prefix}{job_id}/"


# --- DynamoDB ---------------------------------------------------------------------------


def job_item(job_id: str) -> str:
    return f"JOB#{job_id}"


def lease_item(key: CacheKey) -> str:
    return f"LEASE#{key}#fp{key.fingerprint_version}"


def exact_item(scope: str) -> str:
    return f"X#{scope}"


def entry_item(entry: str) -> str:
    return f"E#{entry}"


def hit_day_item(day: str) -> str:
    return f"HITDAY#{day}"


def index_bucket_item(scope: str, bucket: str) -> str:
    return f"IX#{scope}#{bucket}"


#: One partition holds the versions' lifecycle: ``SERVING`` (the stable version last
#: seen by the archival run) and one ``RETIRED#{version}`` item per retired version.
VERSIONS_ITEM = "VERSIONS"
SERVING_SORT_KEY = "SERVING"


def retired_version_sort_key(version: str) -> str:
    return f"RETIRED#{validate_model_version(version)}"


def prewarm_manifest_key(run_id: str, fmt: str) -> str:
    """Cache bucket: a prewarm run's manifest, read by the Distributed Map's ItemReader."""
    return f"prewarm/{run_id}/manifest.{fmt}"


def pending_run_item(inference_id: str) -> str:
    """A started inference run and the task token waiting for it."""
    return f"RUN#{inference_id}"


def archival_watermark_item() -> str:
    """The last hit-day partition the archival has processed (it catches up from there)."""
    return "ARCHIVAL#WATERMARK"
