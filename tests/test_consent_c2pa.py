"""C2PA Content Credentials read through the real ``c2pa-python`` extra, on images signed in the test.

The certificate chain (root, intermediate, signer) is generated here with ``cryptography`` for each
test session: no committed keys. The signer is untrusted (no trust list knows the root), which the
issue says is not invalid; a changed pixel after signing is (the data hash no longer matches).
"""

from __future__ import annotations

import datetime
import io
import json
import time

import pytest
from PIL import Image

from provscan.consent import credentials
from provscan.consent.embedded import read_embedded

c2pa = pytest.importorskip("c2pa")
x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def _cert(subject: str, key, issuer: str, issuer_key, ca: bool):
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str):
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provscan tests"),
            ]
        )

    usage = dict(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if not ca:  # C2PA's certificate profile wants an EKU on the signer; emailProtection is one it accepts
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def signer():
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    inter = _cert("provscan test intermediate", inter_key, "provscan test root", root_key, True)
    leaf = _cert("provscan test signer", leaf_key, "provscan test intermediate", inter_key, False)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, inter))
    key = leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    credentials._library.cache_clear()
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, key, None))


def signed(signer, fmt: str, entries: dict, source: str = CAPTURE) -> bytes:
    assertions = [
        {"label": "cawg.training-mining", "data": {"entries": entries}},  # C2PA 2 needs a created action
        {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source}]}},
    ]
    manifest = {
        "claim_generator_info": [{"name": "provscan-tests", "version": "1"}],
        "title": "t",
        "assertions": assertions,
    }
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 30)).save(buf, fmt.upper())
    dest = io.BytesIO()
    with c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer, f"image/{fmt}", io.BytesIO(buf.getvalue()), dest)
    return dest.getvalue()


ENTRIES = {
    "cawg.ai_training": {"use": "notAllowed"},
    "cawg.ai_generative_training": {"use": "constrained"},
    "cawg.data_mining": {"use": "allowed"},
}


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
def test_signed_manifest_from_an_untrusted_signer_is_read_and_valid(signer, fmt: str) -> None:
    found = read_embedded(signed(signer, fmt, ENTRIES, AI))
    assert found.signals == (
        "c2pa:ai-generative-training=notAllowed",
        "c2pa:ai-training=notAllowed",
        "c2pa:data-mining=allowed",
        "c2pa:source-type=trainedAlgorithmicMedia",
        "c2pa:ai-generated",
    )  # constrained counts as notAllowed
    assert found.error == ""  # untrusted signer: not invalid


def test_tampered_image_withholds_but_never_grants(signer) -> None:
    data = bytearray(signed(signer, "jpeg", ENTRIES, AI))
    data[-100] ^= 0x01  # one bit of the scan data: the manifest's data hash no longer matches
    found = read_embedded(bytes(data))
    assert found.signals == (
        "c2pa:ai-generative-training=notAllowed",
        "c2pa:ai-training=notAllowed",
        "c2pa:source-type=trainedAlgorithmicMedia",
        "c2pa:ai-generated",
        "c2pa:invalid",
    )
    assert "c2pa:data-mining=allowed" not in found.signals and "fails validation" in found.error


def test_truncated_manifest_is_invalid_in_bounded_time(signer) -> None:
    data = signed(signer, "jpeg", ENTRIES)
    start = time.process_time()
    for cut in (len(data) // 2, len(data) - 200):
        assert read_embedded(data[:cut]).signals[-1] == "c2pa:invalid"
    assert time.process_time() - start < 5.0


def test_a_50_mb_malformed_c2pa_box_is_invalid_in_bounded_time() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buf, "WEBP")
    webp = buf.getvalue()
    box = b"\x00\x00\x00\x10jumb" + b"\x07" * 50_000_000
    body = webp[12:] + b"C2PA" + len(box).to_bytes(4, "little") + box
    data = b"RIFF" + (len(body) + 4).to_bytes(4, "little") + b"WEBP" + body
    start = time.process_time()
    found = read_embedded(data)
    assert time.process_time() - start < 3.0
    assert found.signals == ("c2pa:invalid",) and found.error.startswith("c2pa: ")
