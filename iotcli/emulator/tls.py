"""HTTPS for ``iotcli emulate --tls``: a local certificate authority and a server certificate.

Made on first start with ``cryptography`` and kept in ``<data dir>/tls/``, so a client trusts the CA file once
and keeps trusting it across restarts. The CA signs only this emulator's server certificate; its key never
leaves the folder (mode 0700, keys 0600). The server certificate names ``localhost``, ``127.0.0.1``, ``::1`` and
the host the emulator binds (when it is a name or a concrete address); it is made again when it would expire
within 30 days or does not cover the host asked for.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"
#: A server certificate closer than this to its end is made again at start.
RENEW_BEFORE = dt.timedelta(days=30)
CA_LIFETIME = dt.timedelta(days=3650)
#: 825 days: the longest lifetime Apple's TLS clients accept for a server certificate.
CERT_LIFETIME = dt.timedelta(days=825)
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class TlsFiles:
    folder: Path
    ca_file: Path
    cert_file: Path
    key_file: Path


def names_for(host: str) -> list[str]:
    """The names and addresses the server certificate covers for an emulator bound to ``host``."""
    names = ["localhost", "127.0.0.1", "::1"]
    if host not in WILDCARD_HOSTS and host not in names:
        names.append(host)
    return names


def ensure_certificates(folder: Path, host: str = "127.0.0.1") -> TlsFiles:
    """The CA and server certificate in ``folder``, made or renewed as needed."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    files = TlsFiles(folder, folder / CA_FILE, folder / CERT_FILE, folder / KEY_FILE)
    ca_cert, ca_key = _load_or_make_ca(folder)
    names = names_for(host)
    if not _server_cert_fits(files.cert_file, files.key_file, ca_cert, names):
        _make_server_cert(files, ca_cert, ca_key, names)
    return files


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _key_pem(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_or_make_ca(folder: Path):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_path, key_path = folder / CA_FILE, folder / CA_KEY_FILE
    if ca_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if cert.not_valid_after_utc - RENEW_BEFORE > _now():
                return cert, key
        except ValueError:
            pass  # unreadable: make a new CA (clients must trust the new file)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iotcli"),
            x509.NameAttribute(NameOID.COMMON_NAME, "iotcli emulator local CA"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
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
    _write(key_path, _key_pem(key), 0o600)
    _write(ca_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    # A new CA invalidates any server certificate signed by an older one.
    (folder / CERT_FILE).unlink(missing_ok=True)
    return cert, key


def _san_entries(names: list[str]) -> list[object]:
    from cryptography import x509

    entries: list[object] = []
    for n in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return entries


def _server_cert_fits(cert_path: Path, key_path: Path, ca_cert: object, names: list[str]) -> bool:
    from cryptography import x509

    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    assert isinstance(ca_cert, x509.Certificate)
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc - RENEW_BEFORE <= _now():
        return False
    covered = set(san)
    return all(entry in covered for entry in _san_entries(names))


def _make_server_cert(files: TlsFiles, ca_cert: object, ca_key: object, names: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    assert isinstance(ca_cert, x509.Certificate) and isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[-1])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(_san_entries(names)), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(files.key_file, _key_pem(key), 0o600)
    _write(files.cert_file, cert.public_bytes(serialization.Encoding.PEM), 0o644)
