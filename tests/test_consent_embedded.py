"""Signals inside image bytes: XMP in JPEG/PNG/WebP/TIFF, the readings the issue asks for, hostile packets."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from provscan.consent import credentials
from provscan.consent.containers import MAX_XMP_BYTES, find_embedded
from provscan.consent.embedded import read_embedded
from provscan.consent.xmp import read_xmp

PLUS = "http://ns.useplus.org/ldf/xmp/1.0/"
DMI = "http://ns.useplus.org/ldf/vocab/"


def packet(body: str, extra_ns: str = "") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:plus="{PLUS}" xmlns:xmpRights="http://ns.adobe.com/xap/1.0/rights/" '
        'xmlns:cc="http://creativecommons.org/ns#" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'{extra_ns}>{body}</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def jpeg(xmp: bytes | None = None, *, declared: int | None = None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, "JPEG")
    data = buf.getvalue()
    if xmp is None:
        return data
    body = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
    length = declared if declared is not None else len(body) + 2
    return data[:2] + b"\xff\xe1" + struct.pack(">H", length) + body + data[2:]


def png(xmp: bytes, *, compressed: bool = False) -> bytes:
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp.decode(), zip=compressed)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def webp(xmp: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "WEBP", xmp=xmp)
    return buf.getvalue()


def tiff(xmp: bytes) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "TIFF", tiffinfo={700: xmp})
    return buf.getvalue()


PROHIBITED = packet(f'<plus:DataMining rdf:resource="{DMI}DMI-PROHIBITED-AIMLTRAINING"/>')


@pytest.mark.parametrize(
    "make", [jpeg, png, webp, tiff, lambda x: png(x, compressed=True)], ids=["jpeg", "png", "webp", "tiff", "png-zip"]
)
def test_every_container_yields_the_packet(make) -> None:
    data = make(PROHIBITED)
    assert Image.open(io.BytesIO(data)).size == (16, 16)  # still a valid image
    assert read_embedded(data).signals == ("xmp:dmi-prohibited-aimltraining",)


@pytest.mark.parametrize(
    "body,expected",
    [
        (
            f'<plus:DataMining>{DMI}DMI-PROHIBITED-GENAIMLTRAINING</plus:DataMining>',
            "xmp:dmi-prohibited-genaimltraining",
        ),
        (
            '<plus:DataMining><rdf:Bag><rdf:li>DMI-ALLOWED</rdf:li>'
            f'<rdf:li rdf:resource="{DMI}DMI-PROHIBITED"/></rdf:Bag></plus:DataMining>',
            "xmp:dmi-prohibited",
        ),
        (
            f'<plus:DataMining><rdf:Alt><rdf:li xml:lang="x-default">{DMI}DMI-PROHIBITED-SEECONSTRAINT</rdf:li></rdf:Alt>'
            '</plus:DataMining>',
            "xmp:dmi-prohibited-seeconstraint",
        ),
        ('<plus:DataMining>DMI-SOMETHING-NEW</plus:DataMining>', "xmp:dmi-other"),
    ],
)
def test_data_mining_forms(body: str, expected: str) -> None:
    assert expected in read_xmp(packet(body)).signals


def test_attribute_form_and_namespace_by_uri() -> None:
    attr = packet("", extra_ns=f'xmlns:pl="{PLUS}" pl:DataMining="{DMI}DMI-PROHIBITED-AIMLTRAINING"')
    assert read_xmp(attr).signals == ("xmp:dmi-prohibited-aimltraining",)
    # a plus: prefix bound to another URI is not PLUS
    impostor = packet('<fake:DataMining xmlns:fake="http://example.com/plus/">DMI-PROHIBITED</fake:DataMining>')
    assert read_xmp(impostor).signals == ()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_ai_generated_source_type(scheme: str) -> None:
    body = (
        f'<Iptc4xmpExt:DigitalSourceType>{scheme}://cv.iptc.org/newscodes/digitalsourcetype/'
        'compositeWithTrainedAlgorithmicMedia</Iptc4xmpExt:DigitalSourceType>'
    )
    assert read_xmp(packet(body)).signals == (
        "xmp:source-type=compositeWithTrainedAlgorithmicMedia",
        "xmp:ai-generated",
    )
    camera = '<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture</Iptc4xmpExt:DigitalSourceType>'
    assert read_xmp(packet(camera)).signals == ("xmp:source-type=digitalCapture",)


def test_embedded_licence_is_a_licence_not_an_opt_out() -> None:
    cc = read_xmp(packet('<cc:license rdf:resource="https://creativecommons.org/licenses/by-nc/4.0/"/>'))
    assert cc.signals == ("xmp:license",) and cc.license == "https://creativecommons.org/licenses/by-nc/4.0/"
    web = read_xmp(packet("", extra_ns='xmpRights:WebStatement="https://example.com/rights"'))
    assert web.license == "https://example.com/rights"
    terms = read_xmp(
        packet(
            '<xmpRights:UsageTerms><rdf:Alt><rdf:li xml:lang="x-default">Licensed under '
            'http://creativecommons.org/licenses/by/2.0/.</rdf:li></rdf:Alt></xmpRights:UsageTerms>'
        )
    )
    assert terms.license == "http://creativecommons.org/licenses/by/2.0/"
    plain = read_xmp(
        packet('<xmpRights:UsageTerms><rdf:Alt><rdf:li>All rights reserved</rdf:li></rdf:Alt></xmpRights:UsageTerms>')
    )
    assert plain.license is None and plain.signals == ()


def test_plain_images_have_no_signals() -> None:
    assert read_embedded(jpeg()).signals == ()
    assert read_embedded(b"").signals == () and read_embedded(b"<svg/>").signals == ()


BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i else b"&lol;") * 10) for i in range(1, 10))
    + b']><x:xmpmeta xmlns:x="adobe:ns:meta/">&lol9;</x:xmpmeta>'
)


@pytest.mark.parametrize(
    "data,reason",
    [
        (jpeg(BOMB), "DTDForbidden"),
        (jpeg(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF"), "ParseError"),
        (jpeg(PROHIBITED, declared=60_000), "truncated"),
        (webp(b" " * (MAX_XMP_BYTES + 10)), "XMP chunk of"),
        (png(b"<a>" + b" " * (MAX_XMP_BYTES + 10) + b"</a>", compressed=True), "inflates past"),
        (tiff(b"<a>" + b" " * (MAX_XMP_BYTES + 10) + b"</a>"), "XMP tag of"),
    ],
)
def test_hostile_packets_are_recorded_not_raised(data: bytes, reason: str) -> None:
    start = time.process_time()
    result = read_embedded(data)
    assert time.process_time() - start < 1.0  # bounded: nothing is expanded, nothing huge is parsed
    assert result.signals == ("xmp:invalid",)
    assert reason in result.error


def test_a_50_mb_segment_is_refused_before_parsing() -> None:
    riff = b"XMP " + struct.pack("<I", 50_000_000) + b"<" * 1000  # declares 50 MB, holds 1 kB
    data = b"RIFF" + struct.pack("<I", len(riff) + 4) + b"WEBP" + riff
    found = find_embedded(data)
    assert found.xmp is None and "50000000 bytes" in found.xmp_error


def _riff(chunks: list[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(k + struct.pack("<I", len(v)) + v + b"\x00" * (len(v) & 1) for k, v in chunks)
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


@pytest.mark.parametrize("container", ["webp", "png", "tiff"])
def test_a_real_50_mb_xmp_packet_costs_neither_time_nor_memory(container: str) -> None:
    """The packet is really there (not only declared): refused by its length, never copied or parsed."""
    import tracemalloc

    big = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + b" " * 50_000_000 + b"</x:xmpmeta>"
    if container == "webp":
        data = _riff([(b"XMP ", big)])
    elif container == "png":
        data = (
            b"\x89PNG\r\n\x1a\n"
            + struct.pack(">I", len(big) + 22)
            + b"iTXt"
            + b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
            + big
            + b"\x00" * 4
        )
    else:
        data = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 700, 7, len(big), 26) + b"\x00" * 4 + big
    tracemalloc.start()
    start = time.process_time()
    try:
        result = read_embedded(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.process_time() - start < 0.5 and peak < 1_000_000
    assert result.signals == ("xmp:invalid",) and "> 2097152" in result.error


def test_lying_lengths_never_raise() -> None:
    base = png(PROHIBITED)
    for cut in range(8, len(base), 7):
        read_embedded(base[:cut])  # must not raise
    tiff_bad = b"II*\x00" + struct.pack("<I", 10**9)
    assert read_embedded(tiff_bad).signals == ("xmp:invalid",)
    zbomb = zlib.compress(b"\x00" * 10**7)
    chunk = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + zbomb
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(chunk)) + b"iTXt" + chunk + b"\x00" * 4
    assert read_embedded(data).signals == ("xmp:invalid",)


def test_c2pa_box_without_the_extra_is_counted(monkeypatch) -> None:
    monkeypatch.setattr(credentials, "_library", lambda: None)
    jumbf = b"JP\x00\x01" + b"\x00" * 8 + b"jumb" + b"c2pa" + b"\x00" * 20
    data = jpeg()
    data = data[:2] + b"\xff\xeb" + struct.pack(">H", len(jumbf) + 2) + jumbf + data[2:]
    assert read_embedded(data).signals == ("c2pa:not-checked",)


def test_c2pa_store_readings() -> None:
    def store(entries: dict, state: str = "Valid", source: str | None = None) -> dict:
        assertions = [{"label": "cawg.training-mining", "data": {"entries": entries}}]
        if source:
            assertions.append(
                {
                    "label": "c2pa.actions.v2",
                    "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source}]},
                }
            )
        return {"active_manifest": "m", "manifests": {"m": {"assertions": assertions}}, "validation_state": state}

    entries = {"cawg.ai_training": {"use": "constrained"}, "cawg.data_mining": {"use": "allowed"}}
    assert credentials.credentials_from_store(store(entries)).signals == (
        "c2pa:ai-training=notAllowed",
        "c2pa:data-mining=allowed",
    )
    ai = "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    bad = credentials.credentials_from_store(store(entries, "Invalid", ai))
    assert bad.signals == (
        "c2pa:ai-training=notAllowed",
        "c2pa:source-type=trainedAlgorithmicMedia",
        "c2pa:ai-generated",
        "c2pa:invalid",
    )  # withholds and flags, never grants
    untrusted = {
        **store(entries),
        "validation_state": "Invalid",
        "validation_results": {"activeManifest": {"failure": [{"code": "signingCredential.untrusted"}]}},
    }
    assert "c2pa:invalid" not in credentials.credentials_from_store(untrusted).signals


def test_malformed_c2pa_box_with_the_extra_is_invalid() -> None:
    pytest.importorskip("c2pa")
    credentials._library.cache_clear()
    jumbf = b"JP\x00\x01\x00\x00\x00\x01" + struct.pack(">I", 4000) + b"jumb" + b"c2pa" * 8
    data = jpeg()
    data = data[:2] + b"\xff\xeb" + struct.pack(">H", len(jumbf) + 2) + jumbf + data[2:]
    start = time.process_time()
    result = read_embedded(data)
    assert time.process_time() - start < 2.0
    assert result.signals == ("c2pa:invalid",) and result.error.startswith("c2pa: ")


def test_fetch_scan_records_embedded_signals_and_findings(tmp_path, make_shard, no_egress) -> None:
    import json

    import pyarrow.parquet as pq
    from pytest_httpserver import HTTPServer

    from provscan import scan
    from provscan.config import ConsentConfig

    ai = packet(
        '<Iptc4xmpExt:DigitalSourceType>https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'
        '</Iptc4xmpExt:DigitalSourceType>'
    )
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    try:
        server.expect_request("/optout.jpg").respond_with_data(jpeg(PROHIBITED), content_type="image/jpeg")
        server.expect_request("/ai.png").respond_with_data(png(ai), content_type="image/png")
        server.expect_request("/bomb.jpg").respond_with_data(jpeg(BOMB), content_type="image/jpeg")
        server.expect_request("/plain.jpg").respond_with_data(jpeg(), content_type="image/jpeg")
        urls = [server.url_for(p) for p in ("/optout.jpg", "/ai.png", "/bomb.jpg", "/plain.jpg")]
        options = {"allow_cidrs": ("127.0.0.0/8",), "total_timeout": 5.0, "retries": 0}
        result = scan(
            [make_shard("s.parquet", url=urls)],
            fetch=True,
            fetch_options=options,
            consent=ConsentConfig(action="drop", ai_generated="flag"),
            output=tmp_path / "out",
        )
    finally:
        server.clear()
        server.stop()
    flagged = {
        (f["row"], f["kind"], f["action"], f["entry"])
        for f in pq.read_table(result.output / "flagged.parquet").to_pylist()
    }
    assert flagged == {
        (0, "consent", "drop", "xmp:dmi-prohibited-aimltraining"),
        (1, "ai-generated", "flag", "xmp:ai-generated"),
    }
    fetched = pq.read_table(result.output / "fetch.parquet").to_pydict()
    assert fetched["signals"] == [
        ["xmp:dmi-prohibited-aimltraining"],
        ["xmp:source-type=trainedAlgorithmicMedia", "xmp:ai-generated"],
        ["xmp:invalid"],
        [],
    ]
    summary = json.loads((result.output / "summary.json").read_text())
    assert summary["consent_signals"]["xmp:invalid"] == 1
    assert pq.read_table(result.output / "clean" / "s.parquet").column("url").to_pylist() == urls[1:]
