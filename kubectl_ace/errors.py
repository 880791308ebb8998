"""Error types, each with its exit code and a one-line message for the user."""


class AceError(Exception):
    """An error the user can act on: printed as one line on stderr, then exit non-zero."""

    exit_code = 1

    def __init__(self, message: str, detail: str = "", *, already_said: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # shown only with -v; must never hold a secret
        self.already_said = already_said  # this kubectl process heard it from an earlier run: exit quietly


class UsageError(AceError):
    """Bad flags or arguments."""

    exit_code = 2


class InputError(AceError):
    """Bad input from kubectl or a file (exec info, kubeconfig, store)."""

    exit_code = 2


class StoreError(AceError):
    """The token store cannot be read or written."""

    exit_code = 3


class NotLoggedIn(AceError):
    """No usable login for a server, and no way to make one here."""

    exit_code = 4


class RancherError(AceError):
    """Rancher answered, but not with what was asked for."""

    exit_code = 5


class AuthenticationFailed(RancherError):
    """Rancher refused the credentials or token."""

    exit_code = 6


class RancherUnreachable(AceError):
    """Rancher could not be reached at all (refused, timed out, DNS, TLS)."""

    exit_code = 7


class TokenExpired(AceError):
    """A token has expired and cannot be replaced right now."""

    exit_code = 8


class FailedOver(AceError):
    """The current context was switched; the running call must end so the next uses it."""

    exit_code = 9


class TokenRefused(AceError):
    """A token kubectl used was refused and cannot be replaced right now."""

    exit_code = 10
