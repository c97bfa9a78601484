"""The API server's credentials: a CA, a serving certificate, the admin token and client certificate.

On first start :func:`ensure_pki` creates, in the data directory::

    ca.crt ca.key                 the cluster CA (ECDSA P-256, 10 years)
    apiserver.crt apiserver.key   serving certificate; SANs 127.0.0.1, ::1, localhost + configured addresses
    admin.crt admin.key           admin client certificate (CN=admin, O=system:masters)
    tokens.csv                    static bearer tokens, Kubernetes' format ``token,user,uid,"group1,group2"``

Later starts reuse them; the serving certificate is re-issued when a configured address is not
among its SANs. Files holding secrets (keys, tokens, kubeconfig) are written with mode 0600.
:func:`kubeconfig` builds a kubeconfig that kubectl uses as is.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import secrets
from pathlib import Path

import attrs
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "PKIError",
    "CertificateAuthority",
    "IssuedCertificate",
    "PKI",
    "ensure_pki",
    "write_secret",
    "kubeconfig",
    "kubeconfig_yaml",
    "DEFAULT_ADDRESSES",
    "ADMIN_USER",
    "ADMIN_GROUP",
]

#: Always in the serving certificate: the loopback addresses and name.
DEFAULT_ADDRESSES = ("127.0.0.1", "::1", "localhost")
ADMIN_USER = "admin"
ADMIN_GROUP = "system:masters"

_CA_DAYS = 3650
_LEAF_DAYS = 365


class PKIError(Exception):
    """A credential file is missing, unreadable or malformed; the message names the file."""


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 (created that way, never briefly world-readable)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _split_addresses(addresses: tuple[str, ...]) -> tuple[list[ipaddress._BaseAddress], list[str]]:
    ips: list[ipaddress._BaseAddress] = []
    names: list[str] = []
    for a in addresses:
        try:
            ips.append(ipaddress.ip_address(a))
        except ValueError:
            names.append(a)
    return ips, names


@attrs.frozen
class IssuedCertificate:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


@attrs.frozen
class CertificateAuthority:
    """A CA that signs serving and client certificates."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, common_name: str = "orchestra-ca") -> "CertificateAuthority":
        """A new self-signed CA."""
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def load(cls, cert_path: Path, key_path: Path) -> "CertificateAuthority":
        """Load a CA from PEM files; :class:`PKIError` names the file that is bad."""
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise PKIError(f"cannot read CA certificate {cert_path}: {exc}") from None
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise PKIError(f"cannot read CA key {key_path}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PKIError(f"CA key {key_path} is not an ECDSA key")
        return cls(cert, key)

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The CA private key, PEM (PKCS#8)."""
        return _key_pem(self.key)

    def issue(
        self,
        common_name: str,
        *,
        organizations: tuple[str, ...] = (),
        addresses: tuple[str, ...] = (),
        server: bool = False,
        client: bool = False,
        days: int = _LEAF_DAYS,
    ) -> IssuedCertificate:
        """A new key and a certificate signed by this CA.

        ``addresses`` (IPs or DNS names) become subject alternative names; ``server`` / ``client``
        choose the extended key usages.
        """
        key = _new_key()
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        now = _now()
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(attributes))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                    encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if addresses:
            ips, names = _split_addresses(addresses)
            sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
            sans += [x509.IPAddress(ip) for ip in ips]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return IssuedCertificate(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _san_strings(cert_path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(v) for v in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))


def _normalized(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


@attrs.frozen
class PKI:
    """Where the credential files of one data directory live."""

    data_dir: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate (clients verify the server with it)."""
        return self.data_dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        """The CA private key."""
        return self.data_dir / "ca.key"

    @property
    def serving_cert(self) -> Path:
        """The API server's serving certificate."""
        return self.data_dir / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        """The serving certificate's key."""
        return self.data_dir / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        """The admin client certificate (CN=admin, O=system:masters)."""
        return self.data_dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        """The admin client certificate's key."""
        return self.data_dir / "admin.key"

    @property
    def tokens(self) -> Path:
        """The static token file."""
        return self.data_dir / "tokens.csv"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig written by the server on start."""
        return self.data_dir / "kubeconfig"

    def ca(self) -> CertificateAuthority:
        """The CA, loaded from disk."""
        return CertificateAuthority.load(self.ca_cert, self.ca_key)

    def admin_token(self) -> str:
        """The first token of the admin user in the token file."""
        from orchestra.apiserver.auth import TokenFile

        for token, info in TokenFile.load(self.tokens).tokens.items():
            if info.name == ADMIN_USER:
                return token
        raise PKIError(f"no token for user {ADMIN_USER!r} in {self.tokens}")


def ensure_pki(data_dir: str | os.PathLike[str], *, addresses: tuple[str, ...] = ()) -> PKI:
    """Create whatever credential file is missing under ``data_dir`` and return their paths.

    ``addresses`` are extra IPs or DNS names for the serving certificate; when one of them is
    missing from the existing certificate, the certificate is re-issued.
    """
    pki = PKI(Path(data_dir))
    try:
        pki.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PKIError(f"cannot create data directory {pki.data_dir}: {exc.strerror}") from None
    if pki.ca_cert.exists() and pki.ca_key.exists():
        ca = pki.ca()
    else:
        ca = CertificateAuthority.create()
        write_secret(pki.ca_key, ca.key_pem)
        _write_public(pki.ca_cert, ca.cert_pem)
    wanted = tuple(dict.fromkeys((*DEFAULT_ADDRESSES, *addresses)))
    reissue = not (pki.serving_cert.exists() and pki.serving_key.exists())
    if not reissue:
        try:
            present = _san_strings(pki.serving_cert)
        except (OSError, ValueError) as exc:
            raise PKIError(f"cannot read serving certificate {pki.serving_cert}: {exc}") from None
        reissue = not {_normalized(a) for a in wanted} <= present
    if reissue:
        serving = ca.issue("orchestra-apiserver", addresses=wanted, server=True)
        write_secret(pki.serving_key, serving.key_pem)
        _write_public(pki.serving_cert, serving.cert_pem)
    if not (pki.admin_cert.exists() and pki.admin_key.exists()):
        admin = ca.issue(ADMIN_USER, organizations=(ADMIN_GROUP,), client=True)
        write_secret(pki.admin_key, admin.key_pem)
        _write_public(pki.admin_cert, admin.cert_pem)
    if not pki.tokens.exists():
        token = secrets.token_urlsafe(32)
        write_secret(pki.tokens, f'{token},{ADMIN_USER},{ADMIN_USER},"{ADMIN_GROUP}"\n'.encode())
    return pki


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(
    server_url: str,
    *,
    ca_pem: bytes | None,
    token: str | None = None,
    client_cert_pem: bytes | None = None,
    client_key_pem: bytes | None = None,
    name: str = "orchestra",
) -> dict:
    """A kubeconfig dict for one cluster: a token user (current context) and/or a client-cert user."""
    cluster: dict = {"server": server_url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = _b64(ca_pem)
    users: list[dict] = []
    contexts: list[dict] = []
    if token is not None:
        users.append({"name": f"{name}-admin", "user": {"token": token}})
        contexts.append({"name": name, "context": {"cluster": name, "user": f"{name}-admin"}})
    if client_cert_pem is not None and client_key_pem is not None:
        users.append(
            {
                "name": f"{name}-admin-cert",
                "user": {
                    "client-certificate-data": _b64(client_cert_pem),
                    "client-key-data": _b64(client_key_pem),
                },
            }
        )
        contexts.append({"name": f"{name}-cert", "context": {"cluster": name, "user": f"{name}-admin-cert"}})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": users,
        "contexts": contexts,
        "current-context": contexts[0]["name"] if contexts else "",
        "preferences": {},
    }


def kubeconfig_yaml(config: dict) -> str:
    """A kubeconfig dict as YAML text."""
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False)
