"""Multi-index hashing: a fixed number of reads finds every code within the radius."""

from __future__ import annotations

import random

import pytest

from foleycache.cache.near_index import FIND_LAYOUTS, MultiIndexLayout, hamming


@pytest.mark.parametrize("layout", FIND_LAYOUTS, ids=lambda layout: layout.name)
def test_every_code_within_the_radius_shares_a_probed_bucket(layout: MultiIndexLayout) -> None:
    rng = random.Random(1)
    for _ in range(3000):
        code = rng.getrandbits(64)
        near = code
        for bit in rng.sample(range(64), rng.randint(0, layout.radius)):
            near ^= 1 << bit
        assert set(layout.buckets(near)) & set(layout.probes(code))


@pytest.mark.parametrize("layout", FIND_LAYOUTS, ids=lambda layout: layout.name)
def test_reads_per_lookup_do_not_depend_on_the_code(layout: MultiIndexLayout) -> None:
    rng = random.Random(2)
    counts = {len(layout.probes(rng.getrandbits(64))) for _ in range(50)}
    assert counts == {layout.probes_per_lookup}


def test_the_seed_layout_reads_67_buckets() -> None:
    assert MultiIndexLayout(blocks=3, radius=5).probes_per_lookup == 67


def test_layouts_never_share_bucket_names() -> None:
    names = [set(layout.buckets(12345)) for layout in FIND_LAYOUTS]
    assert sum(len(n) for n in names) == len(set().union(*names))


def test_within_filters_by_true_distance_nearest_first() -> None:
    layout = MultiIndexLayout(blocks=3, radius=5)
    query = 0
    candidates = {0b1, 0b111111, 0b11, (1 << 6) - 1 << 20}
    assert layout.within(query, candidates) == [(1, 0b1), (2, 0b11)]
    assert hamming(0b1010, 0b0101) == 4
