"""Every Rancher version users run (2.12 → 2.16): the whole user story works, and each version's own files convert.

The story: log in → `kubectl ace kubeconfig --all --merge` → kubectl works through the proxy and every ACE
endpoint → Rancher stops → the ACE contexts keep working. 2.16 stands for the announced future: no v3 tokens,
no generateKubeconfig, and /v1-public/login answering ext Token objects.
"""

from __future__ import annotations

import pytest
import requests

from tests.conftest import Sandbox
from tests.sim import World
from tests.test_rancher_versions import CONTEXTS, dashboard_download, make_user  # noqa: F401 (fixture)
from tests.test_sim_versions import PROD

# (version, World keyword arguments)
VERSIONS = [
    ("v2.12.9", {}),
    ("v2.13.6", {}),
    ("v2.13.7", {}),
    ("v2.14.1", {}),
    ("v2.14.3", {}),
    ("v2.15.0", {}),
    ("v2.16.0", {"v3_tokens": False, "ext_login": True, "norman_kubeconfig": False}),
]
ACE_CONTEXTS = ["prod-fqdn", "edge-cp1", "edge-cp2"]


def kubectl_works(user: Sandbox, contexts: list[str]) -> None:
    for context in contexts:
        done = user.kubectl("get", "namespaces", "--context", context)
        assert done.returncode == 0, (context, done.stderr)
        assert "kube-system" in done.stdout


@pytest.mark.parametrize("rancher,switches", VERSIONS, ids=[v for v, _ in VERSIONS])
def test_login_fetch_and_ace_through_a_rancher_outage(make_user, rancher, switches):
    user = make_user(rancher, **switches)
    user.login()
    fetched = user.ace("kubeconfig", "--all", "--merge", timeout=180)
    assert fetched.returncode == 0, fetched.stderr
    kubectl_works(user, CONTEXTS)
    user.world.rancher.set_mode("stopped")
    kubectl_works(user, ACE_CONTEXTS)


def download(world: World, cluster_id: str, v3: bool) -> str:
    """What the Rancher UI's "Download KubeConfig" gives on this version: Norman's action up to 2.13, the ext
    Kubeconfig API (without the default entry, as the dashboard asks since 2.15) from 2.14 on."""
    if world.version >= (2, 14):
        return dashboard_download(world, cluster_id, include_default=False) if v3 else \
            ext_dashboard_download(world, cluster_id)
    session = world.create_token("admin")
    answer = requests.post(f"{world.rancher_url}/v3/clusters/{cluster_id}?action=generateKubeconfig",
                           headers={"Authorization": "Bearer " + session}, verify=str(world.rancher_ca_file),
                           timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["config"]


def ext_dashboard_download(world: World, cluster_id: str) -> str:
    """The dashboard's download once v3 tokens are gone: its session is an ext token."""
    from tests.test_sim_versions import create_kubeconfig
    session = world.create_token("admin", ext=True)
    answer = create_kubeconfig(world, session, {"clusters": [cluster_id], "includeDefaultEntry": False})
    assert answer.status_code == 201, answer.text
    return answer.json()["status"]["value"]


@pytest.mark.parametrize("rancher,switches", VERSIONS, ids=[v for v, _ in VERSIONS])
def test_the_ui_download_of_each_version_converts_and_works(make_user, rancher, switches):
    user = make_user(rancher, **switches)
    user.kubeconfig.write_text(download(user.world, PROD, switches.get("v3_tokens", True)))
    converted = user.ace("convert", "-f", str(user.kubeconfig))
    assert converted.returncode == 0, converted.stderr
    text = user.kubeconfig.read_text()
    assert "token:" not in text, "the file's token moved into the store"
    # No login: the token found in the file works through the proxy and at ACE on every version.
    kubectl_works(user, ["prod", "prod-fqdn"])
