"""The data directory's CA, certificates, token file and kubeconfig."""

from __future__ import annotations

import ssl
import stat

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from orchestra.apiserver.auth import TokenFile
from orchestra.apiserver.certs import (
    ADMIN_GROUP,
    ADMIN_USER,
    CertificateAuthority,
    PKIError,
    ensure_pki,
    kubeconfig,
    kubeconfig_yaml,
)


def _sans(path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def test_first_start_creates_every_file_with_private_modes(tmp_path):
    pki = ensure_pki(tmp_path / "data")
    for path in (pki.ca_key, pki.serving_key, pki.admin_key, pki.tokens):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (pki.ca_cert, pki.serving_cert, pki.admin_cert):
        assert path.exists()


def test_serving_certificate_has_loopback_and_configured_sans(tmp_path):
    pki = ensure_pki(tmp_path, addresses=("10.1.2.3", "api.example"))
    assert _sans(pki.serving_cert) >= {"127.0.0.1", "::1", "localhost", "10.1.2.3", "api.example"}


def test_second_start_keeps_files_and_reissues_only_for_new_addresses(tmp_path):
    pki = ensure_pki(tmp_path)
    ca, serving, token = pki.ca_cert.read_bytes(), pki.serving_cert.read_bytes(), pki.tokens.read_bytes()
    ensure_pki(tmp_path)
    assert (pki.ca_cert.read_bytes(), pki.serving_cert.read_bytes(), pki.tokens.read_bytes()) == (ca, serving, token)
    ensure_pki(tmp_path, addresses=("192.0.2.7",))
    assert pki.ca_cert.read_bytes() == ca
    assert pki.serving_cert.read_bytes() != serving
    assert "192.0.2.7" in _sans(pki.serving_cert)


def test_certificates_chain_to_the_ca(tmp_path):
    pki = ensure_pki(tmp_path)
    ctx = ssl.create_default_context(cafile=str(pki.ca_cert))  # loads: the CA is a valid CA certificate
    assert ctx.cert_store_stats()["x509_ca"] == 1
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    for path in (pki.serving_cert, pki.admin_cert):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        cert.verify_directly_issued_by(ca)


def test_admin_client_certificate_names_user_and_group(tmp_path):
    pki = ensure_pki(tmp_path)
    cert = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ADMIN_USER
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ADMIN_GROUP


def test_token_file_holds_an_admin_token(tmp_path):
    pki = ensure_pki(tmp_path)
    tokens = TokenFile.load(pki.tokens)
    token = pki.admin_token()
    assert len(token) >= 32
    assert tokens.lookup(token).name == ADMIN_USER
    assert tokens.lookup(token).role == "admin"


def test_corrupt_ca_is_reported_with_its_path(tmp_path):
    pki = ensure_pki(tmp_path)
    pki.ca_cert.write_text("not a certificate")
    with pytest.raises(PKIError, match="ca.crt"):
        ensure_pki(tmp_path)


def test_issue_sets_key_usages():
    ca = CertificateAuthority.create()
    issued = ca.issue("node-1", organizations=("system:nodes",), addresses=("127.0.0.5",), server=True, client=True)
    cert = x509.load_pem_x509_certificate(issued.cert_pem)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {u._name for u in usages} == {"serverAuth", "clientAuth"}


def test_kubeconfig_shape():
    config = kubeconfig("https://127.0.0.1:6443", ca_pem=b"CA", token="t0k", client_cert_pem=b"C", client_key_pem=b"K")
    loaded = yaml.safe_load(kubeconfig_yaml(config))
    assert loaded["current-context"] == "orchestra"
    assert loaded["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    users = {u["name"]: u["user"] for u in loaded["users"]}
    assert users["orchestra-admin"] == {"token": "t0k"}
    assert set(users["orchestra-admin-cert"]) == {"client-certificate-data", "client-key-data"}
    assert [c["name"] for c in loaded["contexts"]] == ["orchestra", "orchestra-cert"]
