"""Cache keys: the contract's shape, prompt canonicalisation, version namespaces."""

from __future__ import annotations

import hashlib

import pytest

from foleycache.cache import names
from foleycache.core.errors import InvalidInput, InvalidPrompt
from foleycache.core.keys import CacheKey, prompt_md5, validate_prompt

FP = "0123456789abcdef"


def test_key_string_is_fingerprint_prompt_md5_model_version() -> None:
    key = CacheKey.for_request(FP, "footsteps on gravel", "foley-ref-1", 3)
    assert str(key) == f"{FP}:{hashlib.md5(b'footsteps on gravel').hexdigest()}:foley-ref-1"


def test_prompts_differing_only_in_whitespace_share_a_key() -> None:
    assert prompt_md5("  dog   barking\n") == prompt_md5("dog barking")
    assert prompt_md5("dog barking") != prompt_md5("Dog barking!")


def test_every_stored_name_starts_with_model_then_fingerprint_version() -> None:
    v1 = CacheKey.for_request(FP, "rain", "m1", 1)
    v2 = CacheKey.for_request(FP, "rain", "m2", 1)
    fp2 = CacheKey.for_request(FP, "rain", "m1", 2)
    assert names.l2_entry(v1).startswith("cache/m1/fp1/")
    assert names.redis_entry(v1).startswith("fc:m1/fp1:")
    stored = {names.redis_entry(k) for k in (v1, v2, fp2)} | {
        names.l2_entry(k) for k in (v1, v2, fp2)
    }
    assert len(stored) == 6
    assert len({names.lease_item(v1), names.lease_item(v2), names.lease_item(fp2)}) == 3


@pytest.mark.parametrize("bad", ["", "   ", "x" * 1001, "bell\x07"])
def test_bad_prompts_are_rejected_with_a_reason(bad: str) -> None:
    with pytest.raises(InvalidPrompt):
        validate_prompt(bad, 1000)


def test_non_text_prompt_is_rejected() -> None:
    with pytest.raises(InvalidPrompt):
        validate_prompt(42, 1000)


@pytest.mark.parametrize("version", ["", "a/b", "v 1", "x" * 65])
def test_model_versions_that_would_break_the_layout_are_rejected(version: str) -> None:
    with pytest.raises(InvalidInput):
        CacheKey.for_request(FP, "rain", version, 1)


def test_parse_round_trips() -> None:
    key = CacheKey.for_request(FP, "rain", "m1", 4)
    assert CacheKey.parse(str(key), 4) == key
