"""Converting one kubeconfig's data: Rancher users become kubectl-ace exec users, Rancher clusters are marked."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from kubectl_ace.errors import InputError
from kubectl_ace.kubeconfig_files import ENTRY_KINDS, exec_user, with_extension
from kubectl_ace.onboarding.plan import Plan, plan_user
from kubectl_ace.records import token_id_of


@dataclass
class FoundToken:
    """A Rancher token found in a kubeconfig user that is being converted."""

    server: str
    cluster_id: str  # "" when the user serves several clusters (an unscoped token)
    token: str = field(repr=False)
    user: str = ""  # the kubeconfig user it was found in
    ca_pem: str = ""  # the CA of the Rancher proxy entry, for a store record that has none yet
    insecure: bool = False

    @property
    def name(self) -> str:
        return token_id_of(self.token)


@dataclass
class Conversion:
    """A kubeconfig's data before and after conversion, and what was found on the way."""

    original: dict
    data: dict
    users: list[str] = field(default_factory=list)  # users rewritten to the kubectl-ace exec stanza
    clusters: list[str] = field(default_factory=list)  # cluster entries given the extension
    found: list[FoundToken] = field(default_factory=list)  # tokens taken out of the users
    servers: dict[str, tuple[str, bool]] = field(default_factory=dict)  # server → (Rancher CA PEM, insecure)
    rancher_users: int = 0  # Rancher users seen, converted or not

    @property
    def changed(self) -> bool:
        return self.data != self.original


def convert_data(data: dict | None, label: str) -> Conversion:
    """Rancher users → kubectl-ace exec users, Rancher clusters marked, the rest untouched; InputError if unsafe."""
    check_shape(data, label)
    assert data is not None
    result = copy.deepcopy(data)
    clusters = _first_by_name(result, "clusters")
    users = _first_by_name(result, "users")
    contexts = [item for item in result.get("contexts") or [] if isinstance(item.get("context"), dict)]
    # Every plan is made before any is carried out: carrying one out rewrites entries the others read.
    plans = [plan for item in users.values() if (plan := plan_user(item, contexts, clusters, label)) is not None]
    conversion = Conversion(original=data, data=result, rancher_users=len(plans))
    renamed = {ctx.key: ctx.name for plan in plans for ctx in plan.contexts}
    claimed: set[int] = set()
    for plan in plans:
        _apply(plan, claimed, conversion)
    current = result.get("current-context")
    if isinstance(current, str) and current in renamed:
        result["current-context"] = renamed[current]  # it names a context whose name was unescaped
    return conversion


def check_shape(data, label: str) -> None:
    """A clear one-line error for data that is not a kubeconfig kubectl-ace can work on."""
    if data is None:
        raise InputError(f"{label} is empty: not a kubeconfig")
    if not isinstance(data, dict):
        raise InputError(f"{label} is not a kubeconfig (expected a mapping with clusters, users and contexts)")
    if data.get("kind") not in (None, "Config"):
        raise InputError(f"{label} is a {data.get('kind')!r}, not a kubeconfig (kind: Config)")
    if not any(isinstance(data.get(key), list) for key, _ in ENTRY_KINDS):
        raise InputError(f"{label} is not a kubeconfig: it has no clusters, users or contexts")
    for key, inner in ENTRY_KINDS:
        items = data.get(key) or []
        if not isinstance(items, list):
            raise InputError(f"{label}: `{key}` is not a list")
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                raise InputError(f"{label}: entry {index + 1} of `{key}` has no name")
            if item.get(inner) is not None and not isinstance(item[inner], dict):
                raise InputError(f"{label}: the `{inner}` of {inner} {item['name']!r} is not a mapping")


def _first_by_name(data: dict, key: str) -> dict[str, dict]:
    """Entries by name; the first of a name wins, as when kubectl loads the file."""
    found: dict[str, dict] = {}
    for item in data.get(key) or []:
        found.setdefault(item["name"], item)
    return found


def _apply(plan: Plan, claimed: set[int], conversion: Conversion) -> None:
    """Carry out one plan on the (copied) data: its entries are written back unescaped, users and clusters rewritten."""
    conversion.servers.setdefault(plan.server, (plan.ca_pem, plan.insecure))
    user = plan.user
    if plan.kind == "token":
        conversion.found.append(
            FoundToken(plan.server, plan.cluster_id, user.body["token"].strip(), user.name, plan.ca_pem, plan.insecure)
        )
    if plan.kind in ("token", "rancher"):
        user.clean["user"] = exec_user(plan.server, plan.cluster_id, plan.carried)
        conversion.users.append(user.name)
    user.write_back()
    for ctx in plan.contexts:
        ctx.write_back()
    for entry in plan.clusters:
        if id(entry.item) in claimed:
            continue  # a cluster entry shared by two Rancher users: the first one decides
        claimed.add(id(entry.item))
        if entry.key in plan.endpoints:
            cluster_id, kind = plan.endpoints[entry.key]
            marked = with_extension(entry.body, plan.server, cluster_id, kind)
            if marked != entry.body:
                entry.clean["cluster"] = marked
                conversion.clusters.append(entry.name)
        entry.write_back()


def secrets_in(conversion: Conversion) -> list[str]:
    """The secret halves of the tokens taken out (to check that none is written anywhere)."""
    return [f.token.partition(":")[2] for f in conversion.found if f.token.partition(":")[2]]
