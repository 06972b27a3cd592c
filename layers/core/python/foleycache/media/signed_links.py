"""Presigned manifests: DASH and HLS that play from the private bucket with nothing but URLs.

The outputs bucket is private, so the relative references that ``package_abr``
writes (``chunk-v0-00001.m4s``, ``media_a0.m3u8``) cannot be fetched by a
player that was handed only a presigned link to the manifest. Here every
reference is replaced by a presigned GET URL, and the rewritten manifests are
written as new objects under ``<abr_prefix>signed/<nonce>/``: the originals
stay untouched, and each link set expires on its own.

* HLS: every URI line and every ``URI="..."`` attribute (``EXT-X-MAP``,
  ``EXT-X-MEDIA``) is rewritten; a reference to a playlist is itself
  rewritten first and then linked. ``EXTINF`` and every other line stay.
* DASH: a signature cannot go into a ``$Number$`` template, so each
  Representation's ``SegmentTemplate`` becomes an explicit ``SegmentList``
  (``Initialization@sourceURL``, one ``SegmentURL@media`` per segment) that
  keeps the template's ``SegmentTimeline`` and timescale, so the durations
  are the same. Every other element and attribute is kept, namespaces too.

The production alternative is CloudFront with origin access control and signed
cookies: the manifests stay as written and cacheable at the edge, segments are
served from the CDN, and nothing is written per request; but it needs a
distribution, a key group and a cookie-issuing endpoint on the player's site,
and a plain client (ffmpeg, a script) must be given the cookies. Presigned
manifests need no infrastructure and work with any HTTP client, at the cost of
one presign per segment and a few small writes per link set, URLs that are
valid only until ``expires_s`` (at most 7 days for SigV4, and never longer
than the signing credentials), and no CDN in front of the segments.
"""

from __future__ import annotations

import copy
import posixpath
import re
import xml.etree.ElementTree as ET
from io import BytesIO

from foleycache.core.errors import InvalidInput, MediaError, NotFound
from foleycache.core.ports import BlobStore
from foleycache.media.manifest import DASH_MANIFEST, HLS_MASTER

#: SigV4 presigned URLs are valid for at most 7 days.
MAX_EXPIRES_S = 7 * 24 * 3600
SIGNED_DIR = "signed/"
_NONCE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_URI_ATTR = re.compile(r'URI="([^"]*)"')
_TEMPLATE_ID = re.compile(r"\$\$|\$(RepresentationID|Number|Bandwidth|Time)(?:%0(\d+)d)?\$")
_CONTENT_TYPES = {".mpd": "application/dash+xml", ".m3u8": "application/vnd.apple.mpegurl"}


def signed_manifests(
    blobs: BlobStore,
    abr_prefix: str,
    expires_s: int,
    nonce: str,
    *,
    dash: str = DASH_MANIFEST,
    hls: str = HLS_MASTER,
) -> dict[str, str]:
    """Write presigned copies of the MPD and the HLS playlists under ``abr_prefix``.

    Returns ``{"dash": url, "hls": url}``: presigned GET URLs of the rewritten
    MPD and HLS master, valid ``expires_s`` seconds, as is every URL inside
    them. ``nonce`` names this link set (``[A-Za-z0-9_-]{1,64}``; a fresh one
    per call). Raises NotFound if a manifest or playlist is missing, MediaError
    if one cannot be rewritten.
    """
    if not abr_prefix.endswith("/") or abr_prefix.startswith("/"):
        raise InvalidInput(f"abr_prefix must be a folder key ending in '/': {abr_prefix!r}")
    if not _NONCE.fullmatch(nonce):
        raise InvalidInput(f"nonce must match {_NONCE.pattern}: {nonce!r}")
    if not 1 <= expires_s <= MAX_EXPIRES_S:
        raise InvalidInput(f"expires_s must be 1..{MAX_EXPIRES_S}: {expires_s}")
    signer = _Signer(blobs, abr_prefix, f"{abr_prefix}{SIGNED_DIR}{nonce}/", expires_s)
    return {
        "dash": signer.put(dash, _signed_mpd(signer, dash)),
        "hls": signer.hls(abr_prefix + hls),
    }


class _Signer:
    def __init__(self, blobs: BlobStore, prefix: str, out_prefix: str, expires_s: int) -> None:
        self.blobs = blobs
        self.prefix = prefix
        self.out_prefix = out_prefix
        self.expires_s = expires_s
        self.playlists: dict[str, str] = {}  # source key -> URL of its rewritten copy
        self.segments: dict[str, str] = {}  # key -> its presigned URL (HLS and DASH share it)
        self.open: set[str] = set()  # playlists being rewritten (a cycle is an error)

    def read(self, key: str) -> str:
        data = self.blobs.get_bytes(key)
        if data is None:
            raise NotFound(f"manifest {key} does not exist")
        return data.decode("utf-8")

    def key_of(self, base_key: str, ref: str) -> str | None:
        """The object key ``ref`` names, relative to ``base_key``'s folder; None for a URL."""
        if "://" in ref:
            return None  # already absolute: not one of ours, left as it is
        key = posixpath.normpath(posixpath.join(posixpath.dirname(base_key), ref))
        if not key.startswith(self.prefix) or key.startswith(self.prefix + SIGNED_DIR):
            raise MediaError(f"reference {ref!r} in {base_key} points outside {self.prefix}")
        return key

    def link(self, base_key: str, ref: str) -> str:
        """A presigned GET for ``ref``; a playlist is rewritten first and its copy linked."""
        key = self.key_of(base_key, ref)
        if key is None:
            return ref
        if key.endswith(".m3u8"):
            return self.hls(key)
        if key not in self.segments:
            self.segments[key] = self.blobs.presign(key, "GET", self.expires_s)
        return self.segments[key]

    def put(self, name: str, text: str) -> str:
        key = self.out_prefix + name
        content_type = _CONTENT_TYPES.get(posixpath.splitext(name)[1], "text/plain")
        self.blobs.put_bytes(key, text.encode("utf-8"), content_type)
        return self.blobs.presign(key, "GET", self.expires_s)

    def hls(self, key: str) -> str:
        """Rewrite one HLS playlist (master or media); the presigned URL of its copy."""
        if key not in self.playlists:
            if key in self.open:
                raise MediaError(f"playlist {key} refers to itself")
            self.open.add(key)
            lines = []
            for line in self.read(key).splitlines():
                text = line.strip()
                if text.startswith("#EXT"):
                    line = _URI_ATTR.sub(lambda m: f'URI="{self.link(key, m[1])}"', line)
                elif text and not text.startswith("#"):
                    line = self.link(key, text)
                lines.append(line)
            self.playlists[key] = self.put(key[len(self.prefix) :], "\n".join(lines) + "\n")
        return self.playlists[key]


def _signed_mpd(signer: _Signer, name: str) -> str:
    """The MPD with every SegmentTemplate turned into a SegmentList of presigned URLs."""
    key = signer.prefix + name
    text = signer.read(key)
    for _, (prefix, uri) in ET.iterparse(BytesIO(text.encode("utf-8")), events=("start-ns",)):
        if not re.fullmatch(r"ns\d+", prefix):
            ET.register_namespace(prefix, uri)  # keep the document's prefixes on output
    root = ET.fromstring(text)
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.find(f".//{ns}BaseURL") is not None:
        raise MediaError(f"{key} has BaseURL elements; references are resolved without them")
    for adaptation in root.iter(f"{ns}AdaptationSet"):
        shared = adaptation.find(f"{ns}SegmentTemplate")
        for representation in adaptation.findall(f"{ns}Representation"):
            template = representation.find(f"{ns}SegmentTemplate")
            if template is None and shared is not None:
                template = shared
            if template is not None:
                _to_segment_list(signer, key, ns, representation, template)
        if shared is not None:
            adaptation.remove(shared)
    if root.find(f".//{ns}SegmentTemplate") is not None:
        raise MediaError(f"{key} has a SegmentTemplate outside an AdaptationSet")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _to_segment_list(
    signer: _Signer, key: str, ns: str, representation: ET.Element, template: ET.Element
) -> None:
    """Replace ``representation``'s template by an equivalent SegmentList, in place."""
    timeline = template.find(f"{ns}SegmentTimeline")
    if timeline is None or "media" not in template.attrib:
        raise MediaError(f"{key}: a SegmentTemplate without SegmentTimeline or media")
    rid = representation.get("id", "")
    bandwidth = representation.get("bandwidth", "")
    # startNumber only numbers template URLs; ffmpeg's DASH demuxer (5.1 at least) also
    # uses it as the index of the first SegmentURL, so startNumber="1" skips a segment.
    dropped = ("media", "initialization", "index", "bitstreamSwitching", "startNumber")
    kept = {k: v for k, v in template.attrib.items() if k not in dropped}
    segment_list = ET.Element(f"{ns}SegmentList", kept)
    if "initialization" in template.attrib:
        init = _fill(template.attrib["initialization"], rid, bandwidth, 0, 0)
        ET.SubElement(segment_list, f"{ns}Initialization", {"sourceURL": signer.link(key, init)})
    segment_list.append(copy.deepcopy(timeline))
    number = int(template.get("startNumber", "1"))
    for time in _segment_times(timeline, key):
        media = _fill(template.attrib["media"], rid, bandwidth, number, time)
        ET.SubElement(segment_list, f"{ns}SegmentURL", {"media": signer.link(key, media)})
        number += 1
    own = representation.find(f"{ns}SegmentTemplate")
    if own is not None:
        index = list(representation).index(own)
        representation.remove(own)
        representation.insert(index, segment_list)
    else:
        representation.append(segment_list)


def _segment_times(timeline: ET.Element, key: str) -> list[int]:
    """Start time of every segment an explicit (``r`` >= 0) SegmentTimeline describes."""
    times: list[int] = []
    t = 0
    for s in timeline:
        t = int(s.get("t", t))
        duration, repeat = int(s.attrib["d"]), int(s.get("r", "0"))
        if repeat < 0:
            raise MediaError(f"{key}: an open-ended SegmentTimeline (r={repeat}) has no list")
        for _ in range(repeat + 1):
            times.append(t)
            t += duration
    return times


def _fill(template: str, rid: str, bandwidth: str, number: int, time: int) -> str:
    """Expand a DASH URL template (``$RepresentationID$``, ``$Number%05d$``, ``$$`` ...)."""

    def value(m: re.Match[str]) -> str:
        if m[1] is None:
            return "$"  # $$ is an escaped $
        raw = {"RepresentationID": rid, "Bandwidth": bandwidth, "Number": number, "Time": time}
        text = str(raw[m[1]])
        return text.zfill(int(m[2])) if m[2] else text

    return _TEMPLATE_ID.sub(value, template)
