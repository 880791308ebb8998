"""A faithful local Rancher, its downstream clusters and kube-api-auth, over TLS on loopback, for tests.

    from tests.sim import ClusterSpec, World
    with World(clusters=[ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn")]) as world:
        ...

See world.py for the address layout and the one deliberate deviation from Rancher (node ports).

Rancher versions (World(rancher_version=...), default v2.13.0; versions.py, from research §3.1):

    version         ext Token API        /v1-public   Kubeconfig API tokens   ext synced   kube-api-auth strips ext/
    2.11.x          no                   no           (no API)                -            no
    2.12.x          yes, no bearerToken  no           v3 name:value           no           no
    2.13.0-2.13.6   yes + bearerToken    yes          v3                      yes          no
    2.13.7+         yes                  yes          v3                      yes          yes
    2.14.0-2.14.2   yes                  yes          v3 (2.14.0-1: broken    yes          no
                                                      rancher-token exec args)
    2.14.3+         yes                  yes          v3                      yes          yes
    2.15.0          yes                  yes          ext/<name>:<value>,     yes          yes
                                                      includeDefaultEntry
    2.16.0          as 2.15 + first Ready control-plane node as the ACE current-context,
                    ext ttl 0 = auth-token-default-ttl-minutes

v3 cluster-scoped tokens are synced on every version; ext tokens only when cluster-scoped and 2.13+.
world.features holds these switches; world.override(field=value) changes one (e.g. kube_api_auth_strips_ext).

Switches for a Rancher that does not exist yet (keyword arguments, also plain attributes):
    v3_tokens=False          /v3/tokens (POST, GET, DELETE, ?action=logout) answer 404 and Rancher mints ext tokens
    ext_login=True           /v1-public/login answers an ext.cattle.io/v1 Token (rancher#55988)
    norman_kubeconfig=False  the generateKubeconfig action is gone
    rancher_prime=True       /rancherversion says RancherPrime "true"
    temp_root=PATH           where the rancher-sim-<pid>-* dir goes; dirs of dead pids there are removed at start

Faults and knobs: world.rancher.set_mode(up|stopped|stalled|slow|error|html); world.add_fault(kind, path,
method, times, reach_rancher) with kind cut|garbage|empty|huge|wrong-type|html; world.set_sync_delay(seconds,
cluster_id=None); endpoint.set_down(), endpoint.set_html(); cluster.set_node_ready(node, ready);
cluster.agent_connected. Every one is reachable over the admin channel (python -m tests.sim; admin.USAGE).
"""

from .cluster import ClusterSpec, SimCluster, SimEndpoint, SimNode
from .kubeapi import Identity
from .rancher import RancherServer
from .providers import BASIC_PROVIDERS, PROVIDER_TYPES
from .world import Counters, User, World

__all__ = [
    "BASIC_PROVIDERS",
    "PROVIDER_TYPES",
    "ClusterSpec",
    "Counters",
    "Identity",
    "RancherServer",
    "SimCluster",
    "SimEndpoint",
    "SimNode",
    "User",
    "World",
]
