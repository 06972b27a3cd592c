"""Presigned manifests, on real manifests: every reference signed, nothing else changed.

The manifests come from ``package_abr`` on a clip made with ffmpeg from the
shared clips (an encoded 5 s cut with its music, in ``add`` mode: two video
rungs and two audio tracks), stored in the in-memory BlobStore as the
pipeline stores them, then rewritten by :func:`signed_manifests`.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from foleycache.core.errors import InvalidInput, MediaError, NotFound
from foleycache.media.mux import mux_foley
from foleycache.media.package import package_abr
from foleycache.media.preflight import preflight
from foleycache.media.probe import probe
from foleycache.media.signed_links import signed_manifests
from tests.fakes import MemoryBlobStore

SEG = 2.0
TTL = 900
PREFIX = "outputs/job-1/abr/"
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
URL = re.compile(r"https://bucket\.example/(?P<key>[^?]+)\?method=GET&expires=900")


@dataclass
class Signed:
    blobs: MemoryBlobStore
    originals: dict[str, bytes]
    links: dict[str, str]


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def packaged(clips_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``abr/`` of a real job: 2 video rungs, 2 audio tracks (Foley + the source's music)."""
    work = tmp_path_factory.mktemp("signed")
    source = work / "chaplin.mp4"
    ffmpeg("-i", str(clips_dir / "moviepy_chaplin.mp4"), "-t", "5", "-c:v", "libx264",
           "-preset", "ultrafast", "-g", "250", "-c:a", "aac", str(source))  # fmt: skip
    info = probe(source)
    wav = work / "foley.wav"
    ffmpeg("-f", "lavfi", "-i", f"sine=f=330:r=48000:d={info.duration_s:.6f}", "-ac", "1", str(wav))
    plan = preflight(info, segment_s=SEG, audio_mode="add")
    mux = mux_foley(source, wav, work / "video.mp4", info, plan=plan, audio_mode="add")
    result = package_abr(mux.path, work / "abr", rungs=mux.rungs, segment_s=SEG)
    assert len(result.renditions) == 4, [r.id for r in result.renditions]
    return work / "abr"


@pytest.fixture
def signed(packaged: Path) -> Signed:
    blobs = MemoryBlobStore()
    for path in sorted(packaged.iterdir()):
        blobs.put_bytes(PREFIX + path.name, path.read_bytes())
    originals = dict(blobs.objects)
    links = signed_manifests(blobs, PREFIX, TTL, "n1")
    return Signed(blobs, originals, links)


def key_of(url: str) -> str:
    """The object key a (fake) presigned GET URL signs, with its lifetime checked."""
    match = URL.fullmatch(url)
    assert match, url
    return match["key"]


def text(blobs: MemoryBlobStore, url: str) -> str:
    return blobs.objects[key_of(url)].decode()


def test_returns_links_to_new_manifests_and_leaves_the_originals_untouched(
    signed: Signed,
) -> None:
    assert key_of(signed.links["dash"]) == PREFIX + "signed/n1/manifest.mpd"
    assert key_of(signed.links["hls"]) == PREFIX + "signed/n1/master.m3u8"
    for key, data in signed.originals.items():
        assert signed.blobs.objects[key] == data, key
    new = set(signed.blobs.objects) - set(signed.originals)
    playlists = {k for k in signed.originals if k.endswith((".m3u8", ".mpd"))}
    assert new == {k.replace(PREFIX, PREFIX + "signed/n1/") for k in playlists}


def test_hls_every_reference_is_a_signed_url_and_every_other_line_is_kept(
    signed: Signed,
) -> None:
    blobs, originals = signed.blobs, signed.originals
    master = text(blobs, signed.links["hls"])
    original_master = originals[PREFIX + "master.m3u8"].decode()
    media_urls = []
    for new, old in zip(master.splitlines(), original_master.splitlines(), strict=True):
        if old.startswith("#EXT-X-MEDIA:"):
            old_uri, new_uri = (line.split('URI="')[1].split('"')[0] for line in (old, new))
            assert key_of(new_uri) == PREFIX + "signed/n1/" + old_uri
            assert new == old.replace(old_uri, new_uri)  # NAME, CHANNELS, DEFAULT... kept
            media_urls.append(new_uri)
        elif old.startswith("#"):
            assert new == old
        else:
            media_urls.append(new)
            assert key_of(new) == PREFIX + "signed/n1/" + old
    assert len(media_urls) == 4  # 2 audio tracks, 2 video rungs

    segments = 0
    for url in media_urls:
        name = key_of(url).rsplit("/", 1)[1]
        old_lines = originals[PREFIX + name].decode().splitlines()
        new_lines = text(blobs, url).splitlines()
        assert len(new_lines) == len(old_lines)
        for new, old in zip(new_lines, old_lines, strict=True):
            if old.startswith("#EXT-X-MAP:"):
                assert key_of(new.split('URI="')[1].rstrip('"')) == PREFIX + old.split('"')[1]
            elif old.startswith("#"):
                assert new == old  # EXTINF, TARGETDURATION, ENDLIST...
            else:
                assert key_of(new) == PREFIX + old
                assert key_of(new) in originals
                segments += 1
    assert segments >= 4 * 3


def test_dash_segment_template_becomes_a_segment_list_of_signed_urls(signed: Signed) -> None:
    old = ET.fromstring(signed.originals[PREFIX + "manifest.mpd"])
    new_text = text(signed.blobs, signed.links["dash"])
    assert new_text.startswith("<?xml")
    assert 'xmlns="urn:mpeg:dash:schema:mpd:2011"' in new_text  # default namespace kept
    new = ET.fromstring(new_text)
    assert new.attrib == old.attrib
    assert new.find(".//d:SegmentTemplate", NS) is None
    old_sets, new_sets = (
        old.findall(".//d:AdaptationSet", NS),
        new.findall(".//d:AdaptationSet", NS),
    )
    assert len(new_sets) == len(old_sets) == 3
    for old_set, new_set in zip(old_sets, new_sets, strict=True):
        assert new_set.attrib == old_set.attrib
        assert [
            (e.tag, e.attrib, e.text) for e in new_set if not e.tag.endswith("Representation")
        ] == [
            (e.tag, e.attrib, e.text) for e in old_set if not e.tag.endswith("Representation")
        ]  # Label and Role kept
        for old_rep, new_rep in zip(
            old_set.findall("d:Representation", NS),
            new_set.findall("d:Representation", NS),
            strict=True,
        ):
            assert new_rep.attrib == old_rep.attrib  # codecs, bandwidth, sizes
            check_representation(old_rep, new_rep, signed.originals)


def check_representation(old: ET.Element, new: ET.Element, originals: dict[str, bytes]) -> None:
    rid = old.attrib["id"]
    template = old.find("d:SegmentTemplate", NS)
    segment_list = new.find("d:SegmentList", NS)
    assert template is not None and segment_list is not None
    assert [e.tag for e in new] == [e.tag.replace("SegmentTemplate", "SegmentList") for e in old]
    assert segment_list.attrib == {"timescale": template.attrib["timescale"]}
    init = segment_list.find("d:Initialization", NS)
    assert init is not None and key_of(init.attrib["sourceURL"]) == PREFIX + f"init-{rid}.m4s"
    old_timeline = template.find("d:SegmentTimeline", NS)
    new_timeline = segment_list.find("d:SegmentTimeline", NS)
    assert old_timeline is not None and new_timeline is not None
    assert [s.attrib for s in new_timeline] == [s.attrib for s in old_timeline]  # same durations
    count = sum(1 + int(s.get("r", "0")) for s in old_timeline)
    urls = [u.attrib["media"] for u in segment_list.findall("d:SegmentURL", NS)]
    assert [key_of(u) for u in urls] == [
        PREFIX + f"chunk-{rid}-{n:05d}.m4s" for n in range(1, count + 1)
    ]
    assert all(key_of(u) in originals for u in urls)


def stream_frames(manifest: Path) -> list[int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames",
         "-of", "json", str(manifest)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return [int(stream["nb_read_frames"]) for stream in json.loads(out)["streams"]]


def test_ffmpeg_reads_every_frame_through_the_segment_lists(signed: Signed, packaged: Path) -> None:
    """The rewritten MPD, its URLs pointed back at the local files, reads as the original."""
    root = ET.fromstring(text(signed.blobs, signed.links["dash"]))
    for element in root.iter():
        for attr in ("sourceURL", "media"):
            if attr in element.attrib:
                element.set(attr, key_of(element.attrib[attr])[len(PREFIX) :])
    local = packaged / "segment-list.mpd"
    ET.ElementTree(root).write(local, encoding="utf-8", xml_declaration=True)
    frames = stream_frames(local)
    assert len(frames) == 4 and frames == stream_frames(packaged / "manifest.mpd")


def test_each_call_writes_its_own_link_set(signed: Signed) -> None:
    again = signed_manifests(signed.blobs, PREFIX, 60, "n2")
    assert "expires=60" in again["hls"] and key_of(signed.links["hls"]).startswith(
        PREFIX + "signed/n1/"
    )
    second = signed.blobs.objects[PREFIX + "signed/n2/media_v0.m3u8"].decode()
    assert "expires=60" in second and "expires=900" not in second
    assert "expires=900" in signed.blobs.objects[PREFIX + "signed/n1/media_v0.m3u8"].decode()


def test_refuses_bad_arguments_and_missing_or_escaping_references() -> None:
    blobs = MemoryBlobStore()
    with pytest.raises(NotFound):
        signed_manifests(blobs, PREFIX, TTL, "n1")
    for prefix, ttl, nonce in [
        ("outputs/job-1/abr", TTL, "n1"),
        (PREFIX, 0, "n1"),
        (PREFIX, 8 * 24 * 3600, "n1"),
        (PREFIX, TTL, "../x"),
        (PREFIX, TTL, ""),
    ]:
        with pytest.raises(InvalidInput):
            signed_manifests(blobs, prefix, ttl, nonce)
    blobs.put_bytes(PREFIX + "manifest.mpd", MINIMAL_MPD.encode())
    blobs.put_bytes(PREFIX + "master.m3u8", b"#EXTM3U\n../../other-job/abr/media_v0.m3u8\n")
    with pytest.raises(MediaError, match="outside"):
        signed_manifests(blobs, PREFIX, TTL, "n1")


MINIMAL_MPD = """<?xml version="1.0" encoding="utf-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" xmlns:cenc="urn:mpeg:cenc:2013" type="static">
  <Period>
    <AdaptationSet mimeType="video/mp4" cenc:default_KID="00">
      <SegmentTemplate timescale="10" media="seg-$RepresentationID$-$Time$-$Number%03d$-$$.m4s"
          initialization="init-$Bandwidth$.m4s" startNumber="7" presentationTimeOffset="5">
        <SegmentTimeline><S t="5" d="20" r="1"/><S d="7"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="a" bandwidth="100"/>
      <Representation id="b" bandwidth="200"/>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_an_adaptation_set_template_is_expanded_per_representation() -> None:
    blobs = MemoryBlobStore()
    blobs.put_bytes(PREFIX + "manifest.mpd", MINIMAL_MPD.encode())
    blobs.put_bytes(PREFIX + "master.m3u8", b"#EXTM3U\n")
    links = signed_manifests(blobs, PREFIX, TTL, "n1")
    written = text(blobs, links["dash"])
    assert 'xmlns:cenc="urn:mpeg:cenc:2013"' in written and 'cenc:default_KID="00"' in written
    root = ET.fromstring(written)
    adaptation = root.find(".//d:AdaptationSet", NS)
    assert adaptation is not None and adaptation.find("d:SegmentTemplate", NS) is None
    for rid, bandwidth in (("a", 100), ("b", 200)):
        segment_list = root.find(f".//d:Representation[@id='{rid}']/d:SegmentList", NS)
        assert segment_list is not None
        assert segment_list.attrib == {"timescale": "10", "presentationTimeOffset": "5"}
        init = segment_list.find("d:Initialization", NS)
        assert (
            init is not None and key_of(init.attrib["sourceURL"]) == f"{PREFIX}init-{bandwidth}.m4s"
        )
        media = [key_of(u.attrib["media"]) for u in segment_list.findall("d:SegmentURL", NS)]
        assert media == [
            f"{PREFIX}seg-{rid}-5-007-$.m4s",
            f"{PREFIX}seg-{rid}-25-008-$.m4s",
            f"{PREFIX}seg-{rid}-45-009-$.m4s",
        ]
