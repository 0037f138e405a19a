"""
How the client checks a TLS server: L{ClientTLS}, the trust policy of a
run (the system's CAs, a CA file, or no verification at all), turned into
one connection creator per attempt that also remembers why OpenSSL
rejected the certificate, so the error can name the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from zope.interface import implementer

__all__ = ["VERIFY_ERRORS", "ClientTLS", "TLSConfigError", "VerifyingCreator"]

VERIFY_ERRORS = {
    2: "unable to get issuer certificate",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate (unknown CA)",
    21: "unable to verify the first certificate",
    23: "certificate revoked",
    24: "invalid CA certificate",
    26: "unsupported certificate purpose",
    62: "host name mismatch",
    64: "IP address mismatch",
}
"""OpenSSL's C{X509_V_ERR_*} codes, in the words of C{X509_verify_cert_error_string}."""


class TLSConfigError(ValueError):
    """A CA file that cannot be read or holds no certificate (one line)."""


@implementer(IOpenSSLClientConnectionCreator)
class VerifyingCreator:
    """
    One attempt's connection creator: C{inner}'s connection, with a verify
    callback that keeps OpenSSL's verdict and records the first problem in
    L{verify_error} (OpenSSL itself only says C{certificate verify failed}).
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.verify_error: str | None = None

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection: SSL.Connection = self._inner.clientConnectionForTLS(tlsProtocol)
        mode = connection.get_verify_mode()
        if mode & SSL.VERIFY_PEER:
            connection.set_verify(mode, self._verify)
        return connection

    def _verify(
        self, connection: object, certificate: object, code: int, depth: int, ok: int
    ) -> bool:
        if not ok and self.verify_error is None:
            self.verify_error = VERIFY_ERRORS.get(code, f"verify error {code}")
        return bool(ok)


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
