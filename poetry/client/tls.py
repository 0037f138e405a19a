"""
How the client checks a TLS server: L{ClientTLS}, the trust policy of a
run (the system's CAs, a CA file, or no verification at all), turned into
one connection creator per attempt that keeps its connection, so that a
failed verification can name the certificate's problem (Twisted's own
verification, host name included, is left exactly as it is).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from zope.interface import implementer

__all__ = ["ClientTLS", "TLSConfigError", "VerifyingCreator", "certificate_problem"]


class TLSConfigError(ValueError):
    """A CA file that cannot be read or holds no certificate (one line)."""


@implementer(IOpenSSLClientConnectionCreator)
class VerifyingCreator:
    """
    One attempt's connection creator: C{inner}'s connection, unchanged
    (Twisted's verification, host name included, stays as it is), kept so
    that after a failed handshake L{verify_error} can say what is wrong
    with the certificate the server sent: OpenSSL itself only says
    C{certificate verify failed}.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.connection: SSL.Connection | None = None

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        self.connection = self._inner.clientConnectionForTLS(tlsProtocol)
        return self.connection

    @property
    def verify_error(self) -> str | None:
        """The server certificate's problem, if one can be named."""
        connection = self.connection
        chain = None if connection is None else connection.get_peer_cert_chain()
        if not chain:
            return None
        return certificate_problem([c.to_cryptography() for c in chain])


def certificate_problem(
    chain: list[x509.Certificate], now: datetime.datetime | None = None
) -> str | None:
    """
    What is wrong with a server's certificate C{chain} (leaf first), as far
    as it can be told without the trust store: expired, not valid yet,
    self-signed, or (nothing else being wrong) signed by a CA not trusted.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    for depth, certificate in enumerate(chain):
        which = "certificate" if depth == 0 else f"CA certificate at depth {depth}"
        if certificate.not_valid_after_utc < now:
            ended = certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
            return f"{which} has expired (on {ended})"
        if certificate.not_valid_before_utc > now:
            starts = certificate.not_valid_before_utc.strftime("%Y-%m-%d %H:%M UTC")
            return f"{which} is not valid yet (from {starts})"
    leaf = chain[0]
    if len(chain) == 1 and leaf.issuer == leaf.subject:
        return "self-signed certificate"
    return f"issuer {leaf.issuer.rfc4514_string()!r} is not a trusted CA"


class ClientTLS:
    """
    The trust policy for C{tls:} addresses: verify the server's certificate
    and host name against the system's CAs (the default), against the CA
    certificates of a PEM file (L{from_ca_file}, C{--cacert}), or not at all
    (L{insecure}, C{--insecure}, as C{curl -k}).  One underlying creator per
    host name is made and shared by its attempts.

    @ivar verify: whether certificates are verified at all.
    @ivar source: where trust comes from, in words (for messages).
    """

    def __init__(
        self, trust_root: Any = None, *, verify: bool = True, source: str = "system CAs"
    ) -> None:
        self._trust_root = trust_root
        self.verify = verify
        self.source = source
        self._creators: dict[str, Any] = {}

    @classmethod
    def insecure(cls) -> ClientTLS:
        """No verification: any certificate, any name."""
        return cls(verify=False, source="no verification")

    @classmethod
    def from_ca_file(cls, path: str | Path) -> ClientTLS:
        """
        Trust the CA certificate(s) in the PEM file C{path} (instead of the
        system's).

        @raise TLSConfigError: the file cannot be read or holds no
            certificate.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise TLSConfigError(
                f"cannot read {str(path)!r}: {e.strerror or e}"
            ) from None
        pems = [
            b"-----BEGIN CERTIFICATE-----" + part
            for part in data.split(b"-----BEGIN CERTIFICATE-----")[1:]
        ]
        try:
            certificates = [ssl.Certificate.loadPEM(pem) for pem in pems]
        except Exception:
            certificates = []
        if not certificates:
            raise TLSConfigError(f"{str(path)!r} holds no PEM certificate")
        return cls(ssl.trustRootFromCertificates(certificates), source=str(path))

    def creator_for(self, hostname: str) -> VerifyingCreator:
        """A new attempt's connection creator for a server named C{hostname}."""
        inner = self._creators.get(hostname)
        if inner is None:
            if self.verify:
                inner = ssl.optionsForClientTLS(hostname, trustRoot=self._trust_root)
            else:
                inner = _UnverifiedCreator(ssl.CertificateOptions(verify=False))
            self._creators[hostname] = inner
        return VerifyingCreator(inner)


@implementer(IOpenSSLClientConnectionCreator)
class _UnverifiedCreator:
    """Connections from a L{ssl.CertificateOptions} that verifies nothing."""

    def __init__(self, options: ssl.CertificateOptions) -> None:
        self._context = options.getContext()

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_app_data(tlsProtocol)
        return connection
