"""A built-in RFC 3161 time-stamping authority, without I/O: request bytes + now -> reply bytes.

Tokens are CMS SignedData over a TSTInfo, signed with the TSA's P-256 key,
carrying the ESS signing-certificate-v2 attribute that OpenSSL's `ts -verify`
requires. That attribute depends only on the TSA certificate, so it is built
once per authority, which keeps a token to well under a millisecond of work.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from .errors import TimestampError
from .pki import KeyPair, key_use_period

# Our TSA policy: an OID in the UUID arc (ITU-T X.667), so no registry was needed to mint it.
POLICY = "2.25.329133616726672353366418171141581709456"
DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}


class TimeStampResponse(core.Sequence):  # type: ignore[misc]
    """TimeStampResp with the token OPTIONAL, as RFC 3161 says (asn1crypto requires it,
    which makes a rejection unencodable and unparsable)."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]  # noqa: RUF012


@dataclass(frozen=True, slots=True)
class Stamp:
    token: bytes  # DER ContentInfo (the TimeStampToken)
    gen_time: dt.datetime
    serial: int


class TimeStampAuthority:
    """`chain`: the CA certificates between the TSA and the root, sent in every token so that
    `openssl ts -verify -CAfile root.pem` needs nothing else."""

    def __init__(self, pair: KeyPair, chain: Sequence[pyca_x509.Certificate] = ()) -> None:
        self._key = pair.key
        self._use_from, self._use_until = key_use_period(pair.certificate)
        der = pair.certificate.public_bytes(Encoding.DER)
        self._cert = x509.Certificate.load(der)
        self._ess = cms.CMSAttribute(
            {
                "type": "signing_certificate_v2",
                "values": [
                    {
                        "certs": [
                            {
                                "hash_algorithm": {"algorithm": "sha256"},
                                "cert_hash": hashlib.sha256(der).digest(),
                                "issuer_serial": {
                                    "issuer": [x509.GeneralName({"directory_name": self._cert.issuer})],
                                    "serial_number": self._cert.serial_number,
                                },
                            }
                        ]
                    }
                ],
            }
        )
        # asn1crypto re-encodes values built from Python structures every time they are
        # dumped; values *loaded* from DER keep their bytes. So every constant part of a
        # token is encoded once here and reloaded, which takes a token from ~20 ms to ~1 ms.
        self._ess = cms.CMSAttribute.load(self._ess.dump())
        self._tsa_name = x509.GeneralName.load(x509.GeneralName({"directory_name": self._cert.subject}).dump())
        issuers = [x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain]
        self._certificates = cms.CertificateSet.load(cms.CertificateSet([self._cert, *issuers]).dump())
        sid = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": {
                    "issuer": self._cert.issuer,
                    "serial_number": self._cert.serial_number,
                }
            }
        )
        self._sid = cms.SignerIdentifier.load(sid.dump())

    def stamp(
        self,
        digest: bytes,
        now: dt.datetime,
        *,
        algorithm: str = "sha256",
        nonce: int | None = None,
        policy: str | None = None,
        include_certificate: bool = True,
    ) -> Stamp:
        """A token over `digest` (the hash of the stamped data) at `now`."""
        if DIGESTS.get(algorithm) != len(digest):
            raise TimestampError(f"a {algorithm} digest of {len(digest)} bytes is not supported")
        if not self._use_from <= now <= self._use_until:
            # A retired key must never stamp: its certificate outlives it only to vouch for old tokens.
            raise TimestampError("the TSA key's usage period is over; restart the server to rotate it")
        serial = int.from_bytes(os.urandom(16), "big") >> 1
        gen_time = now.astimezone(dt.UTC).replace(microsecond=(now.microsecond // 1000) * 1000)
        info: dict[str, object] = {
            "version": "v1",
            "policy": policy or POLICY,
            "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest},
            "serial_number": serial,
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": self._tsa_name,
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst_info = tsp.TSTInfo(info)
        content = tst_info.dump()
        signed_attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(content).digest()]}),
                self._ess,
            ]
        )
        signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {"content_type": "tst_info", "content": tst_info},
                "certificates": self._certificates if include_certificate else None,
                "signer_infos": [
                    {
                        "version": "v1",
                        "sid": self._sid,
                        "digest_algorithm": {"algorithm": "sha256"},
                        "signed_attrs": signed_attrs,
                        "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                        "signature": signature,
                    }
                ],
            }
        )
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
        return Stamp(token, gen_time, serial)

    def respond(self, request_der: bytes, now: dt.datetime) -> bytes:
        """A TimeStampResp for a TimeStampReq: granted, or rejection with the RFC 3161 failure bit."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = request["nonce"].native
            policy = request["req_policy"].native
            include = bool(request["cert_req"].native)
            if request["version"].native != "v1":
                return _rejection("bad_request", "only version 1 requests are supported")
        except (ValueError, TypeError, KeyError):
            return _rejection("bad_request", "not a DER TimeStampReq")
        if algorithm not in DIGESTS or not isinstance(digest, bytes) or len(digest) != DIGESTS[algorithm]:
            return _rejection("bad_alg", "supported message imprints: sha256, sha384, sha512")
        if policy is not None and policy != POLICY:
            return _rejection("unaccepted_policy", f"this TSA issues tokens under policy {POLICY} only")
        try:
            stamp = self.stamp(digest, now, algorithm=algorithm, nonce=nonce, include_certificate=include)
        except TimestampError as exc:
            return _rejection("system_failure", str(exc))
        response = TimeStampResponse(
            {"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(stamp.token)}
        )
        der: bytes = response.dump()
        return der


def _rejection(failure: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({failure})}
    )
    der: bytes = TimeStampResponse({"status": status}).dump()
    return der


def token_gen_time(token: bytes) -> dt.datetime:
    """The TSA's time in a token (for display; verification is separate)."""
    info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    value: dt.datetime = info["gen_time"].native
    return value
