"""The webhook's self-signed certificates: a chain the API server can verify for the
Service's names, renewed well before it expires, the old authority kept in the bundle."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from cryptography import x509

from kubedag.admission.certificates import (
    AUTHORITY_LIFETIME,
    SERVING_LIFETIME,
    WebhookCertificates,
    renewed,
)

HOSTS = ["kubedag-webhook.kd.svc", "127.0.0.1"]
NOW = datetime(2026, 11, 30, tzinfo=UTC)


def certificates(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def test_a_new_authority_signs_a_serving_certificate_for_the_hosts() -> None:
    made = renewed(None, HOSTS, NOW)
    assert made is not None
    (authority,) = certificates(made.authorities)
    (served,) = certificates(made.certificate)
    served.verify_directly_issued_by(authority)
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kubedag-webhook.kd.svc"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert served.not_valid_before_utc <= NOW < served.not_valid_after_utc


def test_certificates_with_most_of_their_life_left_are_kept() -> None:
    made = renewed(None, HOSTS, NOW)
    assert made is not None
    assert renewed(made, HOSTS, NOW + SERVING_LIFETIME / 2) is None


def test_a_serving_certificate_is_renewed_by_the_same_authority_when_a_third_is_left() -> None:
    made = renewed(None, HOSTS, NOW)
    assert made is not None
    later = NOW + SERVING_LIFETIME * 0.7
    again = renewed(made, HOSTS, later)
    assert again is not None
    assert again.authorities == made.authorities
    assert again.certificate != made.certificate
    (served,) = certificates(again.certificate)
    served.verify_directly_issued_by(certificates(made.authorities)[0])


def test_a_new_host_gets_a_new_serving_certificate() -> None:
    made = renewed(None, HOSTS, NOW)
    assert made is not None
    again = renewed(made, [*HOSTS, "kubedag-webhook.kd.svc.cluster.local"], NOW)
    assert again is not None and again.authorities == made.authorities


def test_a_renewed_authority_is_trusted_next_to_the_old_one_until_the_old_expires() -> None:
    made = renewed(None, HOSTS, NOW)
    assert made is not None
    later = NOW + AUTHORITY_LIFETIME * 0.7
    again = renewed(made, HOSTS, later)
    assert again is not None
    new_authority, old_authority = certificates(again.authorities)
    assert old_authority == certificates(made.authorities)[0]
    certificates(again.certificate)[0].verify_directly_issued_by(new_authority)
    much_later = renewed(again, HOSTS, NOW + AUTHORITY_LIFETIME + timedelta(days=1))
    assert much_later is not None
    assert old_authority not in certificates(much_later.authorities)


def test_unreadable_secret_content_is_replaced() -> None:
    broken = WebhookCertificates("not a certificate", "not a key", "x", "y")
    made = renewed(broken, HOSTS, NOW)
    assert made is not None and len(certificates(made.authorities)) == 1
    assert WebhookCertificates.from_secret_data({"tls.crt": "x"}) is None
