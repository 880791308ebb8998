"""A faithful local Rancher, its downstream clusters and kube-api-auth, over TLS on loopback, for tests.

    from tests.sim import World, ClusterSpec
    with World(clusters=[ClusterSpec(name="prod", id="c-m-prod0001", ace="fqdn")]) as world:
        ...

See world.py for the address layout and the one deliberate deviation from Rancher (node ports).
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
