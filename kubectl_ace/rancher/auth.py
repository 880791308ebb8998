"""Auth provider discovery and the password login, on /v1-public with the /v3-public fallback."""

from __future__ import annotations

from kubectl_ace.errors import RancherError, UsageError
from kubectl_ace.rancher.client import Client, Response

BASIC = ("localProvider", "activeDirectoryProvider", "openLdapProvider", "freeIpaProvider")
SAML = ("pingProvider", "adfsProvider", "keyCloakProvider", "oktaProvider", "shibbolethProvider")
OAUTH = ("azureADProvider",)
# Providers that have no CLI flow in Rancher; their users log in with an API key (--token-stdin).
API_KEY_ONLY = (
    "githubProvider",
    "githubAppProvider",
    "googleOAuthProvider",
    "oidcProvider",
    "keyCloakOIDCProvider",
    "genericOIDCProvider",
    "cognitoProvider",
)


class Providers:
    """The enabled providers and which public API serves them."""

    def __init__(self, items: list[dict], api: str) -> None:
        self.items = items
        self.api = api  # "v1" or "v3"


def discover(client: Client) -> Providers:
    """GET /v1-public/authproviders, or /v3-public/authProviders when v1 answers 404 (Rancher ≤ 2.12)."""
    answer = client.request("GET", "/v1-public/authproviders", allow=(404,))
    api = "v1"
    if answer.status == 404:
        answer = client.request("GET", "/v3-public/authProviders")
        api = "v3"
    body = answer.body
    if not isinstance(body, dict) or not isinstance(body.get("data") or [], list):
        raise RancherError(
            f"{client.server} answered the auth provider list with something unexpected; is --server the Rancher URL?"
        )
    items = [item for item in body.get("data") or [] if isinstance(item, dict) and item.get("type")]
    # localProvider first, the rest in the server's order, as the Rancher CLI lists them.
    items.sort(key=lambda item: item["type"] != "localProvider")
    return Providers(items, api)


def provider_id(provider: dict) -> str:
    """`openLdapProvider` → `openldap` when the server did not send an id."""
    return provider.get("id") or provider["type"].removesuffix("Provider").lower()


def find(providers: Providers, wanted: str) -> dict:
    """Match --auth-provider by type (`openLdapProvider`) or id (`openldap`), case-insensitively."""
    for item in providers.items:
        if wanted.lower() in (item["type"].lower(), provider_id(item).lower()):
            return item
    names = ", ".join(f"{provider_id(item)} ({item['type']})" for item in providers.items) or "none"
    raise UsageError(f"auth provider {wanted!r} is not enabled on this Rancher; enabled: {names}")


def flow_of(provider: dict) -> str:
    """How a provider's users log in here: password, saml, azure, or api-key (everything else)."""
    kind = provider.get("type")
    if kind in BASIC:
        return "password"
    if kind in SAML:
        return "saml"
    if kind in OAUTH:
        return "azure"
    return "api-key"


def login_path(providers: Providers, provider: dict) -> str:
    """POST /v1-public/login, or /v3-public/<type>s/<id>?action=login when discovery fell back to v3."""
    if providers.api == "v1":
        return "/v1-public/login"
    return f"/v3-public/{provider['type']}s/{provider_id(provider)}?action=login"


def check_login_answer(client: Client, answer: Response) -> None:
    """A 201 login answer must carry the token (≥2.13 small body, ≤2.12 Norman token, or an ext Token object).

    An ext.cattle.io Token (rancher#55988) is told by apiVersion and kind and read into the small body's words.
    """
    from kubectl_ace.rancher import exttokens

    if exttokens.is_token_object(answer.body):
        answer.body = exttokens.flat(answer.body)
    token = answer.body.get("token") if isinstance(answer.body, dict) else None
    if not isinstance(token, str) or ":" not in token:
        raise RancherError(f"{client.server} accepted the login but sent no token")


def password_login(
    client: Client,
    providers: Providers,
    provider: dict,
    username: str,
    password: str,
    response_type: str = "kubeconfig",
    pending=None,
) -> Response:
    """Log in with a password provider; 201 with a token (≥2.13 small body or ≤2.12 Norman token).

    `pending` (a pending.Pending) notes the request before it goes and the token before anything else happens."""
    body = {"type": provider["type"], "responseType": response_type, "username": username, "password": password}
    if pending is not None:
        pending.sending_login()
    answer = client.request("POST", login_path(providers, provider), body=body, expect=(201,))
    if pending is not None:
        pending.login_token(answer.body)
    check_login_answer(client, answer)
    return answer
