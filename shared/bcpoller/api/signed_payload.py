"""BigCommerce's ``signed_payload_jwt`` (load, uninstall and remove-user callbacks).

BigCommerce signs it with HS256 and the app's client secret; the claims that matter are
``aud`` (the app's client id), ``iss`` (``bc``), ``exp``/``nbf``/``iat`` and ``sub``
(``stores/{store_hash}``). PyJWT checks signature, algorithm, audience, issuer and the
times; this module turns each refusal into a sentence that says which check failed and
never echoes the token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ISSUER = "bc"
# BigCommerce's and our clocks differ a little; a few seconds keep a fresh token valid.
LEEWAY_SECONDS = 30
_SUB = re.compile(r"^stores/([A-Za-z0-9_-]{1,64})$")


class SignedPayloadError(ValueError):
    """The JWT is refused; ``problem`` says why (no token, no secret inside)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class SignedPayload:
    store_hash: str
    user_id: str | None
    user_email: str | None
    owner_id: str | None
    claims: dict[str, Any]


def verify_signed_payload(
    token: str, *, client_id: str, client_secret: str, now: float | None = None
) -> SignedPayload:
    """The verified payload, or SignedPayloadError naming the failed check."""
    import jwt  # lazy: only the app callbacks need it, not every API cold start

    if not token or token.count(".") != 2:
        raise SignedPayloadError("signed_payload_jwt is missing or not a JWT")
    options: Any = {"require": ["exp", "aud", "iss", "sub"]}
    try:
        if now is None:
            claims = jwt.decode(
                token,
                client_secret,
                algorithms=["HS256"],  # only HS256: "none" and key-confusion tricks are refused
                audience=client_id,
                issuer=ISSUER,
                leeway=LEEWAY_SECONDS,
                options=options,
            )
        else:
            claims = _decode_at(jwt, token, client_id, client_secret, now, options)
    except jwt.ExpiredSignatureError:
        raise SignedPayloadError("signed_payload_jwt has expired") from None
    except jwt.ImmatureSignatureError:
        raise SignedPayloadError("signed_payload_jwt is not valid yet (nbf/iat in the future)") from None
    except jwt.InvalidAudienceError:
        raise SignedPayloadError(
            "signed_payload_jwt is for another app (aud is not this client id)"
        ) from None
    except jwt.InvalidIssuerError:
        raise SignedPayloadError("signed_payload_jwt was not issued by BigCommerce (iss is not bc)") from None
    except jwt.MissingRequiredClaimError as exc:
        raise SignedPayloadError(f"signed_payload_jwt lacks the {exc.claim} claim") from None
    except jwt.InvalidAlgorithmError:
        raise SignedPayloadError("signed_payload_jwt is not signed with HS256") from None
    except jwt.InvalidSignatureError:
        raise SignedPayloadError(
            "signed_payload_jwt has a bad signature (not signed with this app's secret)"
        ) from None
    except jwt.InvalidTokenError:
        raise SignedPayloadError("signed_payload_jwt is not a valid JWT") from None
    match = _SUB.match(str(claims.get("sub", "")))
    if not match:
        raise SignedPayloadError("signed_payload_jwt's sub is not stores/{store_hash}")
    user: dict[str, Any] = claims["user"] if isinstance(claims.get("user"), dict) else {}
    owner: dict[str, Any] = claims["owner"] if isinstance(claims.get("owner"), dict) else {}
    return SignedPayload(
        store_hash=match.group(1),
        user_id=None if user.get("id") is None else str(user["id"]),
        user_email=user.get("email"),
        owner_id=None if owner.get("id") is None else str(owner["id"]),
        claims=claims,
    )


def _decode_at(
    jwt: Any, token: str, client_id: str, client_secret: str, now: float, options: Any
) -> dict[str, Any]:
    """Decode as if the time were ``now`` (tests): PyJWT checks the times itself only
    against the real clock, so check them here with the same leeway."""
    claims: dict[str, Any] = jwt.decode(
        token,
        client_secret,
        algorithms=["HS256"],
        audience=client_id,
        issuer=ISSUER,
        options={**options, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or now > exp + LEEWAY_SECONDS:
        raise jwt.ExpiredSignatureError("expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and now < nbf - LEEWAY_SECONDS:
        raise jwt.ImmatureSignatureError("nbf")
    return claims
