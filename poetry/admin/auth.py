"""
Bearer-token authentication for the admin endpoint, built from
C{twisted.cred} and C{twisted.web.guard}: a credential factory for the
C{Bearer} scheme (L{BearerCredentialFactory}), the credentials it decodes
(L{IBearerToken}), a checker comparing them with the configured token in
constant time (L{TokenChecker}) and a realm handing out the admin
resources (L{AdminRealm}); L{guard} puts them together.  A request without
the token, or with a wrong one, gets a 401 with C{WWW-Authenticate: Bearer}.
"""

from __future__ import annotations

import hmac
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import ICredentials
from twisted.cred.error import LoginFailed, UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred, fail, succeed
from twisted.web.guard import HTTPAuthSessionWrapper
from twisted.web.iweb import ICredentialFactory
from twisted.web.resource import IResource
from zope.interface import Attribute, implementer

__all__ = [
    "AdminRealm",
    "BearerCredentialFactory",
    "BearerToken",
    "IBearerToken",
    "TokenChecker",
    "guard",
    "has_token",
]


class IBearerToken(ICredentials):
    """A bearer token, as a request presented it."""

    token = Attribute("The token, as bytes.")


@implementer(IBearerToken)
class BearerToken:
    """A request's C{Authorization: Bearer TOKEN}."""

    def __init__(self, token: bytes) -> None:
        self.token = token


@implementer(ICredentialFactory)
class BearerCredentialFactory:
    """
    Decodes C{Authorization: Bearer TOKEN} (RFC 6750) into a
    L{BearerToken}; the 401's challenge is C{Bearer realm="poetry admin"}.
    """

    scheme = b"bearer"

    def getChallenge(self, request: Any) -> dict[str, bytes]:
        return {"realm": b"poetry admin"}

    def decode(self, response: bytes, request: Any) -> BearerToken:
        token = response.strip()
        if not token:
            raise LoginFailed("empty bearer token")
        return BearerToken(token)


@implementer(ICredentialsChecker)
class TokenChecker:
    """
    Accepts exactly one token, compared with L{hmac.compare_digest} so the
    time taken tells nothing about how much of a guess was right.
    """

    credentialInterfaces = (IBearerToken,)

    def __init__(self, token: bytes) -> None:
        if not token:
            raise ValueError("the admin token must not be empty")
        self._token = token

    def requestAvatarId(self, credentials: Any) -> Deferred[Any]:
        if hmac.compare_digest(credentials.token, self._token):
            return succeed(b"admin")
        return fail(UnauthorizedLogin("wrong bearer token"))


@implementer(IRealm)
class AdminRealm:
    """Every authenticated request gets the same admin resource."""

    def __init__(self, resource: IResource) -> None:
        self.resource = resource

    def requestAvatar(
        self, avatar_id: Any, mind: Any, *interfaces: Any
    ) -> tuple[Any, IResource, Any]:
        if IResource not in interfaces:
            raise NotImplementedError("the admin realm only hands out resources")
        return IResource, self.resource, lambda: None


def guard(resource: IResource, token: bytes) -> IResource:
    """
    C{resource} behind the bearer C{token}: every request (to it or any of
    its children) must carry C{Authorization: Bearer TOKEN}, else a 401.
    """
    portal = Portal(AdminRealm(resource), [TokenChecker(token)])
    wrapper: IResource = HTTPAuthSessionWrapper(portal, [BearerCredentialFactory()])
    return wrapper


def has_token(request: Any, token: bytes) -> bool:
    """
    Whether C{request} carries C{Authorization: Bearer TOKEN} with exactly
    C{token} (compared in constant time, as L{TokenChecker} does), for a
    resource that answers without the token too (the status page's 401).
    """
    scheme, _, given = (request.getHeader(b"authorization") or b"").partition(b" ")
    if scheme.lower() != BearerCredentialFactory.scheme:
        return False
    try:
        credentials = BearerCredentialFactory().decode(given, request)
    except LoginFailed:
        return False
    return hmac.compare_digest(credentials.token, token)
