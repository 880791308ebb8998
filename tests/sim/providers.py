"""Rancher auth providers: authconfig ids, their provider types, and which login flow each uses."""

# authconfig id -> provider type (research §2.1)
PROVIDER_TYPES = {
    "local": "localProvider", "activedirectory": "activeDirectoryProvider", "openldap": "openLdapProvider",
    "freeipa": "freeIpaProvider", "ping": "pingProvider", "adfs": "adfsProvider", "keycloak": "keyCloakProvider",
    "okta": "oktaProvider", "shibboleth": "shibbolethProvider", "azuread": "azureADProvider",
    "github": "githubProvider", "githubapp": "githubAppProvider", "googleoauth": "googleOAuthProvider",
    "oidc": "oidcProvider", "keycloakoidc": "keyCloakOIDCProvider", "genericoidc": "genericOIDCProvider",
    "cognito": "cognitoProvider",
}
BASIC_PROVIDERS = ("local", "activedirectory", "openldap", "freeipa")
SAML_PROVIDERS = ("ping", "adfs", "keycloak", "okta", "shibboleth")
