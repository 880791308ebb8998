"""ExecCredential in and out: the client-go exec protocol (stdlib only: this is the hot path)."""

import os
import sys
import time

from kubectl_ace import jsonlite
from kubectl_ace.errors import InputError

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
SUPPORTED_VERSIONS = (V1, V1BETA1)
EXTENSION_NAME = "client.authentication.k8s.io/exec"


class ExecInfo:
    """What kubectl told the plugin in KUBERNETES_EXEC_INFO."""

    # A plain class: dataclasses costs ~10 ms of imports on every kubectl call.
    def __init__(
        self,
        api_version: str = V1BETA1,
        interactive: bool = False,
        cluster: dict | None = None,
        from_kubectl: bool = False,
    ) -> None:
        self.api_version = api_version
        self.interactive = interactive
        self.cluster = cluster or {}  # spec.cluster, present with provideClusterInfo
        self.from_kubectl = from_kubectl

    @property
    def server(self) -> str:
        return self.cluster.get("server") or ""

    @property
    def config(self) -> dict:
        """The cluster's exec extension, which kubectl-ace writes into the clusters it manages."""
        config = self.cluster.get("config")
        return config if isinstance(config, dict) else {}


def read_exec_info(environ: dict | None = None, stdin_isatty: bool | None = None) -> ExecInfo:
    """Parse KUBERNETES_EXEC_INFO; without it (a run by hand) answer v1beta1 and prompt only on a terminal."""
    env = os.environ if environ is None else environ
    raw = env.get("KUBERNETES_EXEC_INFO", "").strip()
    if not raw:
        if stdin_isatty is None:
            stdin_isatty = _isatty(sys.stdin)
        return ExecInfo(interactive=stdin_isatty)
    try:
        data = jsonlite.loads(raw)
    except (ValueError, RecursionError) as err:  # RecursionError: nested too deep to be exec info
        raise InputError(
            f"KUBERNETES_EXEC_INFO is not valid JSON ({str(err)[:100]}); "
            "it is set by kubectl: unset it to run `kubectl-ace token` by hand"
        ) from None
    if not isinstance(data, dict):
        raise InputError("KUBERNETES_EXEC_INFO is not a JSON object; unset it to run `kubectl-ace token` by hand")
    version = data.get("apiVersion")
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            f"kubectl asked for ExecCredential apiVersion {_short(version)}, which kubectl-ace does not speak; "
            f"set `apiVersion: {V1}` (or v1beta1) in the kubeconfig's exec section"
        )
    if data.get("kind", "ExecCredential") != "ExecCredential":
        raise InputError(f"KUBERNETES_EXEC_INFO has kind {_short(data.get('kind'))}, expected ExecCredential")
    spec = data.get("spec")
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise InputError("KUBERNETES_EXEC_INFO has a spec that is not an object")
    cluster = spec.get("cluster")
    cluster = {} if cluster is None else cluster
    if not isinstance(cluster, dict):
        raise InputError("KUBERNETES_EXEC_INFO has a spec.cluster that is not an object")
    interactive = spec.get("interactive", False)
    if not isinstance(interactive, bool):
        raise InputError("KUBERNETES_EXEC_INFO has a spec.interactive that is not true or false")
    for key in ("server", "certificate-authority-data"):
        if cluster.get(key) is not None and not isinstance(cluster[key], str):
            raise InputError(f"KUBERNETES_EXEC_INFO has a spec.cluster.{key} that is not a string")
    return ExecInfo(api_version=version, interactive=interactive, cluster=cluster, from_kubectl=True)


def _short(value) -> str:
    """A value from the input quoted back in a message, cut so that a huge one stays one readable line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def cluster_ca(cluster: dict) -> str:
    """The CA (PEM) of exec cluster info: its certificate-authority-data, else the file the kubeconfig index keeps
    (kubectl itself always sends data); "" if none."""
    if cluster.get("certificate-authority-data") or not cluster.get("certificate-authority"):
        return decode_ca(cluster.get("certificate-authority-data") or "")
    try:
        with open(cluster["certificate-authority"], encoding="utf-8") as handle:
            return handle.read()
    except (OSError, TypeError, UnicodeDecodeError):
        return ""


def decode_ca(data: str) -> str:
    """certificate-authority-data (base64, as kubectl passes it in spec.cluster) as PEM; "" if absent or bad."""
    if not data:
        return ""
    import base64

    try:
        return base64.b64decode(data).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def render(api_version: str, token: str, expires: float | None) -> str:
    """One compact ExecCredential line; `expires` is a local epoch, or None for a token that never expires."""
    status = '"token":' + jsonlite.quote(token)
    if expires is not None:
        status = f'"expirationTimestamp":"{rfc3339(expires)}",' + status
    return f'{{"kind":"ExecCredential","apiVersion":{jsonlite.quote(api_version)},"spec":{{}},"status":{{{status}}}}}'


def rfc3339(epoch: float) -> str:
    """Seconds-precision UTC timestamp, the form client-go writes."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _isatty(stream) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
