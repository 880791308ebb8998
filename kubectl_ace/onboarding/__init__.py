"""Onboarding: turn Rancher's kubeconfigs (downloaded from the UI or fetched with generateKubeconfig) into
kubeconfigs whose users run kubectl-ace, and keep the tokens found in them in the token store.

What Rancher writes (research/rancher-api.md §1.2, §4.3): one user named after the cluster, with either
`token: "<name>:<secret>"` or a `rancher token` exec stanza; a proxy cluster
`https://<rancher>/k8s/clusters/<id>`; for ACE an `<name>-fqdn` entry or one `<name>-<node>` entry per
control-plane node, all using that user. Rancher ≤ 2.11 HTML-escaped every value (`+` → `&#43;`).

`plan` decides what a Rancher user and its entries become (reading them unescaped, once); `conversion`
carries the plans out on the data; `files` converts a file in place; `adoption` puts the tokens found
into the store; `fetch` gets kubeconfigs from Rancher.
"""
