"""What each Rancher version does differently (research rancher-2.14-kubectl-1.37-krew.md §3.1, §3.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# The versions the issue 11 tests run against; any vX.Y.Z parses.
KNOWN_VERSIONS = ("v2.11.3", "v2.12.9", "v2.13.0", "v2.13.6", "v2.13.7", "v2.14.0", "v2.14.1", "v2.14.2",
                  "v2.14.3", "v2.15.0", "v2.16.0")


def parse_version(version: str) -> tuple[int, int, int]:
    """'v2.12.3' -> (2, 12, 3); a missing patch is 0."""
    m = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not m:
        raise ValueError(f"bad rancher_version {version!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class Features:
    """Behaviour switches derived from a Rancher version; World copies them into attributes tests may change."""

    ext_tokens: bool                 # /apis/ext.cattle.io/v1/tokens (2.12+, feature flag on by default)
    ext_bearer_token: bool           # status.bearerToken in the create answer (2.13+)
    v1_public: bool                  # /v1-public/* and /v1/logout (2.13+)
    ext_kubeconfigs: bool            # /apis/ext.cattle.io/v1/kubeconfigs (2.12+)
    include_default_entry: bool      # spec.includeDefaultEntry is honoured (2.15+)
    kubeconfig_ext_tokens: bool      # the Kubeconfig API mints ext tokens, ext/<name>:<value> (2.15+)
    broken_exec_args: bool           # rancher token exec users with --server= and no --cluster= (2.14.0-2.14.1)
    first_ready_node: bool           # ACE current-context skips NotReady control-plane nodes (2.16, PR #56206)
    ext_tokens_synced: bool          # ext tokens reach the downstream ClusterAuthTokens (2.13+)
    kube_api_auth_strips_ext: bool   # kube-api-auth strips ext/ (2.13.7+, 2.14.3+, 2.15.0+)
    default_ttl_setting: bool        # ext tokens' ttl 0 means auth-token-default-ttl-minutes (2.16 main)

    @classmethod
    def of(cls, version: tuple[int, int, int]) -> "Features":
        """The switches for one version."""
        minor = version[:2]
        strips = (version >= (2, 15, 0) or (minor == (2, 14) and version >= (2, 14, 3))
                  or (minor == (2, 13) and version >= (2, 13, 7)))
        return cls(ext_tokens=minor >= (2, 12), ext_bearer_token=minor >= (2, 13), v1_public=minor >= (2, 13),
                   ext_kubeconfigs=minor >= (2, 12), include_default_entry=minor >= (2, 15),
                   kubeconfig_ext_tokens=minor >= (2, 15),
                   broken_exec_args=(2, 14, 0) <= version <= (2, 14, 1), first_ready_node=minor >= (2, 16),
                   ext_tokens_synced=minor >= (2, 13), kube_api_auth_strips_ext=strips,
                   default_ttl_setting=minor >= (2, 16))
