"""The webhook's self-signed TLS: a certificate authority the API server trusts (the
ValidatingWebhookConfiguration's caBundle) and a serving certificate it signs, for the
operator's Service names. Pure: times in, PEM text out (no I/O; keys are random).

Built with `cryptography` (the Python binding of OpenSSL that pip, requests and Kopf's own
optional certificate code rely on) rather than by hand. ECDSA P-256 keys: quick to make,
accepted by the API server's Go TLS.

Lifetimes: the authority lives ten years, the serving certificate one; each is renewed
when less than a third of its life is left (kubedag.admission.tls checks hourly), so a
renewal happens months before anything expires and an operator down for weeks still finds
a valid one. A renewed authority is added to the bundle before anything it signed is
served, and the old one stays in the bundle until it expires: the API server trusts both
replicas' certificates during a rotation."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AUTHORITY_LIFETIME = timedelta(days=3650)
SERVING_LIFETIME = timedelta(days=365)
# Issued slightly in the past: the API server's clock may be behind the operator's.
CLOCK_SKEW = timedelta(minutes=5)
AUTHORITY_NAME = "kubedag-webhook-ca"


@dataclass(frozen=True)
class WebhookCertificates:
    """PEM text, as the Secret keeps it: `ca.crt` (the bundle: newest authority first),
    `ca.key` (the newest authority's key), `tls.crt`, `tls.key`."""

    authorities: str
    authority_key: str
    certificate: str
    key: str

    @classmethod
    def from_secret_data(cls, data: dict[str, str]) -> WebhookCertificates | None:
        """From a Secret's decoded `data`; None when a key is missing."""
        try:
            return cls(data["ca.crt"], data["ca.key"], data["tls.crt"], data["tls.key"])
        except KeyError:
            return None

    def secret_data(self) -> dict[str, str]:
        return {
            "ca.crt": self.authorities,
            "ca.key": self.authority_key,
            "tls.crt": self.certificate,
            "tls.key": self.key,
        }


def renewed(
    current: WebhookCertificates | None, hosts: Sequence[str], now: datetime
) -> WebhookCertificates | None:
    """What to keep from now on: None when `current` is still good for `hosts`, else the
    certificates to store (a new authority only when the current one is due)."""
    authority = _first_certificate(current.authorities) if current else None
    authority_key = _private_key(current.authority_key) if current else None
    if current is None or authority is None or authority_key is None or _due(authority, now):
        key = ec.generate_private_key(ec.SECP256R1())
        authority = _authority(key, now)
        authority_key = key
        kept = [
            certificate
            for certificate in (_certificates(current.authorities) if current else [])
            if certificate.not_valid_after_utc > now
        ]
        bundle = [authority, *kept]
    else:
        served = _first_certificate(current.certificate)
        bundle = [
            certificate
            for certificate in _certificates(current.authorities)
            if certificate.not_valid_after_utc > now
        ]
        if (
            served is not None
            and not _due(served, now)
            and _covers(served, hosts)
            and len(bundle) == len(_certificates(current.authorities))
        ):
            return None
    serving_key = ec.generate_private_key(ec.SECP256R1())
    certificate = _serving(serving_key, hosts, authority, authority_key, now)
    return WebhookCertificates(
        authorities="".join(_pem(cert) for cert in bundle),
        authority_key=_key_pem(authority_key),
        certificate=_pem(certificate),
        key=_key_pem(serving_key),
    )


def _authority(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, AUTHORITY_NAME)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + AUTHORITY_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _serving(
    key: ec.EllipticCurvePrivateKey,
    hosts: Sequence[str],
    authority: x509.Certificate,
    authority_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> x509.Certificate:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + SERVING_LIFETIME, authority.not_valid_after_utc))
        # Go's TLS verifies the host against the SANs only, never the common name.
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key()),
            critical=False,
        )
        .sign(authority_key, hashes.SHA256())
    )


def _due(certificate: x509.Certificate, now: datetime) -> bool:
    """Less than a third of its life left (or not valid yet by more than the skew)."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return now + (end - start) / 3 >= end or now + CLOCK_SKEW < start


def _covers(certificate: x509.Certificate, hosts: Sequence[str]) -> bool:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = {str(name) for name in names.get_values_for_type(x509.DNSName)}
    present |= {str(address) for address in names.get_values_for_type(x509.IPAddress)}
    return all(str(_normal_host(host)) in present for host in hosts)


def _normal_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _certificates(pem: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        return []


def _first_certificate(pem: str) -> x509.Certificate | None:
    found = _certificates(pem)
    return found[0] if found else None


def _private_key(pem: str) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
