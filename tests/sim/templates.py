"""Rancher's generateKubeconfig template (pkg/kubeconfig tokenTemplateText), rendered byte for byte."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Optional

_FIRST_LEN = 49
_CHUNK = re.compile(r"\S{1,76}")
_CERT_DELIM = "\\\n      "

# Go html/template's escaper for text: what Rancher <= 2.11 did to every value (rancher#37325).
_HTML_ESCAPES = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "+": "&#43;",
                 "<": "&lt;", ">": "&gt;"}


def format_cert_string(cert_b64: str) -> str:
    """Rancher's formatCertString: 49 chars, then chunks of up to 76 after backslash-newline-6 spaces."""
    if len(cert_b64) <= _FIRST_LEN:
        return cert_b64
    head, rest = cert_b64[:_FIRST_LEN], cert_b64[_FIRST_LEN:]
    return head + "".join(_CERT_DELIM + part for part in _CHUNK.findall(rest))


def b64_pem(pem: str) -> str:
    """Standard base64 of a PEM string."""
    return base64.b64encode(pem.encode()).decode()


def html_escape(value: str) -> str:
    """Escape a value the way Go's html/template escapes text."""
    return "".join(_HTML_ESCAPES.get(ch, ch) for ch in value)


@dataclass(frozen=True)
class KubeconfigEntry:
    """One cluster+context pair: its name, server URL and already formatted CA data ('' for none)."""

    name: str
    server: str
    cert: str


def render_kubeconfig(*, cluster_name: str, cluster_id: str, host: str, entries: list[KubeconfigEntry],
                      token: Optional[str], endpoint_enabled: bool, escape: bool = False) -> str:
    """Render tokenTemplateText exactly as Rancher's Go template produces it."""
    e = html_escape if escape else (lambda v: v)
    user = cluster_name
    out = ["apiVersion: v1\nkind: Config\nclusters:"]
    for ent in entries:
        out.append(f'\n- name: "{e(ent.name)}"\n  cluster:\n    server: "{e(ent.server)}"')
        if ent.cert:
            out.append(f'\n    certificate-authority-data: "{e(ent.cert)}"')
    out.append(f'\n\nusers:\n- name: "{e(user)}"\n  user:')
    if token:
        # The `{{ else }}` in the template does not trim, which leaves two blank lines here.
        out.append(f'\n    token: "{e(token)}"\n')
    else:
        out.append("\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      args:\n"
                   f"        - token\n        - --server={e(host)}\n        - --user={e(user)}")
        if endpoint_enabled:
            out.append(f"\n        - --cluster={e(cluster_id)}")
        out.append("\n      command: rancher")
    out.append("\n\ncontexts:")
    for ent in entries:
        out.append(f'\n- name: "{e(ent.name)}"\n  context:\n    user: "{e(user)}"\n    cluster: "{e(ent.name)}"')
    out.append(f'\n\ncurrent-context: "{e(cluster_name)}"\n')
    return "".join(out)
