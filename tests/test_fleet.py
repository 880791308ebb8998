"""Fleet-sized kubeconfigs: one parse per command, line edits of current-context, the exec path's per-file index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.fleetgen import fleet_kubeconfig
from kubectl_ace import kubeconfig_files, kubeconfig_index, kubeconfig_text, kubeconfig_view
from kubectl_ace.errors import InputError
from kubectl_ace.store import Store
from tests.conftest import KUBECTLS, NEWEST, Sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def own_store(tmp_path, monkeypatch):
    """kubeconfig_files.load keeps its parse cache in the default store: this test's own."""
    store = tmp_path / "default-store"
    store.mkdir()
    monkeypatch.setenv("KUBECTL_ACE_STORE", str(store))
    return store


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    old, new = before.splitlines(), after.splitlines()
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new) if a != b]


def test_switch_in_a_200_cluster_kubeconfig_changes_only_the_current_context_line(tmp_path):
    sandbox = Sandbox(tmp_path, None)
    text = fleet_kubeconfig(200)
    sandbox.kubeconfig.write_text(text)
    done = sandbox.ace("switch", "fleet-0150-node0")
    assert done.returncode == 0, done.stderr
    after = sandbox.kubeconfig.read_text()
    assert changed_lines(text, after) == [("current-context: fleet-0000", "current-context: fleet-0150-node0")]
    assert after.startswith("# Merged from Rancher's downloads")  # the comment is kept
    seen = subprocess.run([KUBECTLS[NEWEST], "config", "current-context"], env=sandbox.env, capture_output=True,
                          text=True, timeout=60)
    assert seen.stdout.strip() == "fleet-0150-node0"


def test_current_context_edits_that_need_a_parse_still_change_only_that_value(tmp_path):
    store = Store(str(tmp_path / "store"))
    path = tmp_path / "config"
    for line, name, written in (
        ("current-context: fleet-0000  # mine", "fleet-0001", "current-context: fleet-0001  # mine"),
        ("current-context: fleet-0000", "123", 'current-context: "123"'),  # plain 123 would be a number
        ("current-context: 'fleet-0000'", "it's", "current-context: 'it''s'"),
        ("current-context:", "fleet-0002", "current-context: fleet-0002"),
    ):
        text = fleet_kubeconfig(3).replace("current-context: fleet-0000", line)
        path.write_text(text)
        config = kubeconfig_files.load(str(path))
        config.contexts.setdefault(name, config.contexts["fleet-0001"])
        assert kubeconfig_files.set_current_context(config, name, store)
        after = path.read_text()
        assert changed_lines(text, after) == [(line, written)]
        assert yaml.safe_load(after)["current-context"] == name


def test_a_file_unchanged_since_load_is_edited_without_a_second_parse(tmp_path, monkeypatch):
    path = tmp_path / "config"
    path.write_text(fleet_kubeconfig(20))
    config = kubeconfig_files.load(str(path))
    parses = []
    real = kubeconfig_files.parse
    monkeypatch.setattr(kubeconfig_files, "parse", lambda *a: parses.append(a[1]) or real(*a))
    assert kubeconfig_files.set_current_context(config, "fleet-0003-fqdn", Store(str(tmp_path / "store")))
    assert kubeconfig_files.current_context_now(config) == "fleet-0003-fqdn"
    assert parses == []
    assert yaml.safe_load(path.read_text())["current-context"] == "fleet-0003-fqdn"


@pytest.mark.parametrize("line", ["current-context: fleet-0000", "current-context: fleet-0000  # mine",
                                  "current-context: 'fleet-0000'", 'current-context: "fleet-0000"', "current-context:"])
def test_a_view_sets_the_current_context_on_the_index_proof_without_any_parse(tmp_path, monkeypatch, line):
    """switch and the exec path's switches load a view: while the index holds, neither reading nor setting the
    current context parses the file, and only the value changes (twice over: the proof follows the edit)."""
    from kubectl_ace import kubeconfig_yaml

    store = Store(str(tmp_path / "store"))
    path = tmp_path / "config"
    text = "# Zürich's fleet\n" + fleet_kubeconfig(20).replace("current-context: fleet-0000", line)  # not ASCII
    path.write_text(text, encoding="utf-8")
    kubeconfig_view.load(str(path))  # builds the index
    monkeypatch.setattr(kubeconfig_yaml, "parse", lambda *a: pytest.fail("parsed the kubeconfig"))
    monkeypatch.setattr(kubeconfig_files, "parse", lambda *a: pytest.fail("parsed the kubeconfig"))
    config = kubeconfig_view.load(str(path))
    assert config.current_context == ("" if line == "current-context:" else "fleet-0000")
    for name in ("fleet-0003-fqdn", "123"):  # 123 must be quoted to stay a string
        assert kubeconfig_files.set_current_context(config, name, store)
        assert kubeconfig_files.current_context_now(config) == name
    after = path.read_text(encoding="utf-8")
    [(old, new)] = changed_lines(text, after)
    assert old == line and yaml.safe_load(after)["current-context"] == "123"
    assert not kubeconfig_files.set_current_context(config, "fleet-0001", store, only_if="fleet-0003-fqdn")


def test_a_view_edits_a_file_changed_since_it_was_read_by_a_parse_of_what_is_there(tmp_path):
    store = Store(str(tmp_path / "store"))
    path = tmp_path / "config"
    path.write_text(fleet_kubeconfig(5))
    kubeconfig_view.load(str(path))
    config = kubeconfig_view.load(str(path))
    added = "- name: added-meanwhile\n  context: {cluster: fleet-0001, user: fleet-0001}\n"
    path.write_text(path.read_text().replace("contexts:\n", "contexts:\n" + added, 1))  # as another writer would
    assert kubeconfig_files.set_current_context(config, "fleet-0002-fqdn", store)
    after = yaml.safe_load(path.read_text())
    assert after["current-context"] == "fleet-0002-fqdn"
    assert "added-meanwhile" in [c["name"] for c in after["contexts"]]


def resolve_in_child(path: Path, store: Path, context: str = "") -> dict:
    """The exec path's cluster lookup in a new process, and whether it had to import the YAML library."""
    probe = ("import json, sys\n"
             "from kubectl_ace import kubeconfig_index\n"
             "from kubectl_ace.store import Store\n"
             f"info = kubeconfig_index.cluster_info(Store({str(store)!r}), [{str(path)!r}], {context!r})\n"
             "print(json.dumps({'server': info.get('server'), 'parsed': 'yaml' in sys.modules}))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_exec_path_follows_kubectl_use_context_without_parsing_the_kubeconfig_again(tmp_path):
    sandbox = Sandbox(tmp_path, None)
    sandbox.kubeconfig.write_text(fleet_kubeconfig(200, provide_cluster_info=False))
    kubectl = KUBECTLS[NEWEST]
    use = lambda name: subprocess.run([kubectl, "config", "use-context", name], env=sandbox.env, capture_output=True,
                                      timeout=60, check=True)
    use("fleet-0007-fqdn")  # kubectl rewrites the whole file in its own layout once: the index is built for that
    assert resolve_in_child(sandbox.kubeconfig, sandbox.store) == {
        "server": "https://fleet-0007.fleet.invalid", "parsed": True}
    for name, server in (("fleet-0100-node0", "https://10.0.100.10:6443"),
                         ("fleet-0199", "https://rancher.fleet.invalid/k8s/clusters/c-m-000000c7")):
        use(name)
        assert resolve_in_child(sandbox.kubeconfig, sandbox.store) == {"server": server, "parsed": False}
    assert resolve_in_child(sandbox.kubeconfig, sandbox.store, "fleet-0001-fqdn") == {
        "server": "https://fleet-0001.fleet.invalid", "parsed": False}


def test_exec_path_index_is_rebuilt_when_anything_but_the_current_context_changes(tmp_path):
    store = Store(str(tmp_path / "store"))
    path = tmp_path / "config"
    text = fleet_kubeconfig(5)
    path.write_text(text)
    assert kubeconfig_index.cluster_info(store, [str(path)], "fleet-0002-fqdn")["server"] == \
        "https://fleet-0002.fleet.invalid"
    # The same length and the same current-context: only the fingerprint tells.
    path.write_text(text.replace("https://fleet-0002.fleet.invalid", "https://fleet-0002.fleet.invaliX"))
    assert kubeconfig_index.cluster_info(store, [str(path)], "fleet-0002-fqdn")["server"] == \
        "https://fleet-0002.fleet.invaliX"
    # A second current-context key (a comment, then nested under a context) makes the file one the index never proved.
    for second in ("# current-context: fleet-0003\n", "- name: x\n  current-context: fleet-0003\n"):
        edited = text.replace("contexts:\n", "contexts:\n" + second, 1)
        path.write_text(edited.replace("current-context: fleet-0000", "current-context: fleet-0002-fqdn"))
        assert kubeconfig_index.cluster_info(store, [str(path)], "")["server"] == "https://fleet-0002.fleet.invalid"
    # Two files: the first to name a context wins, as in client-go's merge.
    other = tmp_path / "other"
    other.write_text(fleet_kubeconfig(2, server="https://rancher2.fleet.invalid", current="fleet-0001"))
    info = kubeconfig_index.cluster_info(store, [str(other), str(path)], "")
    assert info["server"] == "https://rancher2.fleet.invalid/k8s/clusters/c-m-00000001"
    assert kubeconfig_index.cluster_info(store, [str(other), str(path)], "fleet-0004")["server"] == \
        "https://rancher.fleet.invalid/k8s/clusters/c-m-00000004"


def test_the_exec_path_reads_a_relative_ca_file_beside_the_kubeconfig_and_sees_it_renewed(tmp_path, own_store,
                                                                                          monkeypatch):
    from kubectl_ace.credential import cluster_ca
    from kubectl_ace.kubeconfig_yaml import ca_pem

    (tmp_path / "kube").mkdir()
    ca = tmp_path / "kube" / "fqdn-ca.pem"
    ca.write_text("FQDN CA")
    data = yaml.safe_load(fleet_kubeconfig(2))
    for entry in data["clusters"]:
        if entry["name"] == "fleet-0001-fqdn":
            entry["cluster"].pop("certificate-authority-data")
            entry["cluster"]["certificate-authority"] = "fqdn-ca.pem"
    path = tmp_path / "kube" / "config"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    info = kubeconfig_index.cluster_info(Store(str(own_store)), [str(path)], "fleet-0001-fqdn")
    view = kubeconfig_view.load(str(path))
    assert cluster_ca(info) == ca_pem(view.cluster_of("fleet-0001-fqdn").body) == "FQDN CA"
    ca.write_text("RENEWED CA")  # the kubeconfig, and so its index, did not change
    info = kubeconfig_index.cluster_info(Store(str(own_store)), [str(path)], "fleet-0001-fqdn")
    assert cluster_ca(info) == ca_pem(kubeconfig_view.load(str(path)).cluster_of("fleet-0001-fqdn").body) == \
        "RENEWED CA"
    assert "RENEWED" not in "".join(p.read_text() for p in own_store.rglob("*.idx"))


def test_value_span_refuses_what_a_line_scan_cannot_prove():
    assert kubeconfig_text.value_span("a: 1\ncurrent-context: x\n") is not None
    assert kubeconfig_text.value_span("a: 1\n  current-context: x\n") is None  # not at a line start
    assert kubeconfig_text.value_span("current-context: x\nb: current-context\n") is None  # twice
    assert kubeconfig_text.decode("x # note") is None and kubeconfig_text.decode("yes") is None
    assert kubeconfig_text.decode("&a x") is None and kubeconfig_text.decode('"a\\tb"') is None
    raw = b"a: 1\ncurrent-context: x  # mine\nb: 2\n"
    start = raw.index(b": x") + 2
    assert kubeconfig_text.value_span_at(raw, start) == (start, start + 1)
    assert kubeconfig_text.value_span_at(raw, start - 1) is None  # the value does not start there
    nested = b"a: 1\n  current-context: x\n"
    assert kubeconfig_text.value_span_at(nested, nested.index(b": x") + 2) is None  # not at a line start
    assert kubeconfig_text.value_span_at(raw, len(raw) + 5) is None
    assert os.path.basename(kubeconfig_index.__file__) == "kubeconfig_index.py"


def test_pip_install_gives_a_plain_launcher_that_runs(tmp_path):
    """`pip install .` installs packaging/bin/kubectl-ace with its #!python rewritten, not pip's wrapper importing re."""
    import shutil

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "kubectl_ace", source / "kubectl_ace", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "packaging" / "bin", source / "packaging" / "bin")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # As a user installs it (pip fetches the build backend, setuptools>=61, and the dependencies).
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    launcher = venv / "bin" / "kubectl-ace"
    text = launcher.read_text()
    assert text.startswith(f"#!{python}") and "import re" not in text
    ran = subprocess.run([str(launcher), "version"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert ran.returncode == 0 and ran.stdout.startswith("kubectl-ace 0.1.0 (source"), ran.stderr


def test_the_exec_path_index_copies_no_credential_into_the_store(tmp_path):
    """A kubeconfig may hold other tools' tokens and keys: the index keeps clusters only, never the file's bytes."""
    from kubectl_ace import kubeconfig_index
    from kubectl_ace.store import Store

    path = tmp_path / "config"
    data = yaml.safe_load(fleet_kubeconfig(3))
    data["users"].append({"name": "eks", "user": {"token": "other-tools-secret-token",
                                                  "client-key-data": "c2VjcmV0LWtleQ=="}})
    path.write_text(yaml.safe_dump(data))
    store = Store(str(tmp_path / "store"))
    info = kubeconfig_index.cluster_info(store, [str(path)], "fleet-0001-fqdn")
    assert info["server"] == "https://fleet-0001.fleet.invalid"
    stored = b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*") if p.is_file())
    assert b"other-tools-secret-token" not in stored and b"c2VjcmV0LWtleQ==" not in stored
    path.write_text(path.read_text().replace("fleet-0001.fleet.invalid", "fleet-0001.example.invalid"))
    assert kubeconfig_index.cluster_info(store, [str(path)], "fleet-0001-fqdn")["server"] == \
        "https://fleet-0001.example.invalid"  # an edit beyond current-context rebuilds it




def test_an_index_replaced_after_its_names_were_read_is_not_read_at_their_offsets(tmp_path):
    """The exec path reads an index's names, then one cluster's info at the offset they give: another process
    rebuilding the index in between (a new file) must make that read give nothing, never another cluster's bytes."""
    store = Store(str(tmp_path / "store"))
    path = tmp_path / "config"
    text = fleet_kubeconfig(5)
    path.write_text(text)
    kubeconfig_index.cluster_info(store, [str(path)], "fleet-0002-fqdn")  # builds the index
    names_read = kubeconfig_index.file_index(store, str(path))
    assert names_read is not None and names_read.tail is None  # from the stored index: the infos are read on demand
    assert json.loads(names_read.info("fleet-0002-fqdn"))["server"] == "https://fleet-0002.fleet.invalid"
    # Another process rebuilds it for a changed file: each cluster's info now starts 8 bytes further on.
    path.write_text(text.replace("https://fleet-0001.fleet.invalid", "https://fleet-0001.fleet.invalid.example"))
    assert kubeconfig_index.cluster_info(store, [str(path)], "fleet-0002-fqdn")["server"] == \
        "https://fleet-0002.fleet.invalid"
    assert names_read.info("fleet-0002-fqdn") is None and names_read.entries() is None


def test_the_exec_path_index_reads_the_names_and_one_cluster_not_the_whole_index(tmp_path, monkeypatch):
    """With 200 clusters the index is ~1 MB (each ACE cluster's CA): the exec path reads ~1/20 of it."""
    store = Store(str(tmp_path / "store"))
    path = tmp_path / "config"
    path.write_text(fleet_kubeconfig(200))
    kubeconfig_index.cluster_info(store, [str(path)], "fleet-0000")
    [index_file] = (tmp_path / "store").rglob("*.idx")
    read = []
    real_open = open

    def counting_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if str(file) == str(index_file):
            real_read = handle.read
            handle.read = lambda *a: (lambda data: (read.append(len(data)), data)[1])(real_read(*a))
        return handle

    monkeypatch.setattr("builtins.open", counting_open)
    info = kubeconfig_index.cluster_info(store, [str(path)], "fleet-0150-fqdn")
    assert info["server"] == "https://fleet-0150.fleet.invalid"
    assert 0 < sum(read) < index_file.stat().st_size / 10


def endpoints_as_tuples(found):
    return (found.server, found.cluster_id, found.proxy and (found.proxy.context, found.proxy.url),
            [(e.context, e.kind, e.url, e.ca_data) for e in found.ace])


def test_every_rancher_cluster_of_a_fleet_is_found_in_one_pass(tmp_path, monkeypatch):
    """status --all, prepare and kubeconfig --all list a fleet's clusters: 3,000 contexts took 45 s when each
    context's cluster was found by reading every context again."""
    from kubectl_ace import endpoints, readiness

    path = tmp_path / "config"
    path.write_text(fleet_kubeconfig(1000))
    config = kubeconfig_files.load(str(path))
    calls = []
    classify = endpoints.endpoint_of
    monkeypatch.setattr(endpoints, "endpoint_of", lambda *a: (calls.append(1), classify(*a))[1])
    assert len(endpoints.rancher_contexts(config)) == 1000
    assert len(readiness.ace_clusters(config)) == 1000
    assert len(calls) <= 2 * 2 * len(config.contexts)  # each context once per listing (and a sibling's at most)


def awkward_fleet() -> str:
    """Rancher-named ACE contexts without the extension, a context whose cluster entry is gone, other contexts (one
    named like an ACE context but of another user), clusters without a proxy context."""
    data = yaml.safe_load(fleet_kubeconfig(6, nodes=2))
    for entry in data["clusters"]:
        if entry["name"].endswith(("-fqdn", "-node1")):
            entry["cluster"].pop("extensions")
    data["clusters"] = [c for c in data["clusters"] if c["name"] != "fleet-0002-node0"]
    data["clusters"].append({"name": "plain", "cluster": {"server": "https://plain.example"}})
    data["contexts"] = [c for c in data["contexts"] if c["name"] not in ("fleet-0001", "fleet-0005")]
    data["contexts"] += [{"name": "plain", "context": {"cluster": "plain", "user": "x"}},
                         {"name": "fleet-0003-zz", "context": {"cluster": "fleet-0003", "user": "fleet-0003"}},
                         {"name": "fleet-0004-missing", "context": {"cluster": "gone", "user": "fleet-0004"}},
                         {"name": "fleet-0000-elsewhere", "context": {"cluster": "plain", "user": "x"}}]  # not a sibling
    return yaml.safe_dump(data)


def test_the_one_pass_listing_gives_each_cluster_as_its_first_context_does(tmp_path):
    """The same clusters, endpoints and order as asking context by context, in an awkward fleet."""
    from kubectl_ace import endpoints

    path = tmp_path / "config"
    path.write_text(awkward_fleet())
    config = kubeconfig_files.load(str(path))
    expected, seen = [], set()
    for name in sorted(config.contexts):
        found = endpoints.rancher_endpoints(config, name)
        if found is not None and (found.server, found.cluster_id) not in seen:
            seen.add((found.server, found.cluster_id))
            expected.append(endpoints_as_tuples(found))
    assert [endpoints_as_tuples(f) for f in endpoints.all_rancher_endpoints(config)] == expected
    assert len(expected) == 6 and any(e[2] is None for e in expected)  # two clusters have no proxy context


def test_the_read_only_view_finds_every_endpoint_the_full_load_finds(tmp_path, monkeypatch):
    """status and `kubectl ace kubectl` read the index, not the YAML: merged files, Rancher-named ACE contexts
    (matched by user), a missing cluster entry and non-Rancher contexts come out as from the full parse."""
    from kubectl_ace import endpoints

    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(awkward_fleet().replace("current-context: fleet-0000", "current-context: ''"))  # unset
    second.write_text(fleet_kubeconfig(8).replace("current-context: fleet-0000", "current-context: fleet-0006"))
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    full = kubeconfig_files.load()
    for _ in range(2):  # the first view builds no index of its own (load did), the second reads it again
        view = kubeconfig_view.load()
        assert view.current_context == full.current_context == "fleet-0006"
        assert sorted(view.contexts) == sorted(full.contexts) and view.paths == full.paths
        assert [endpoints_as_tuples(f) for f in endpoints.all_rancher_endpoints(view)] == \
            [endpoints_as_tuples(f) for f in endpoints.all_rancher_endpoints(full)]
        for name in full.contexts:
            mine, theirs = endpoints.rancher_endpoints(view, name), endpoints.rancher_endpoints(full, name)
            assert (mine and endpoints_as_tuples(mine)) == (theirs and endpoints_as_tuples(theirs)), name
            assert view.contexts[name].path == full.contexts[name].path


def test_the_read_only_view_parses_no_yaml_while_the_index_holds(tmp_path, monkeypatch):
    from kubectl_ace import kubeconfig_yaml

    path = tmp_path / "config"
    text = fleet_kubeconfig(20)
    path.write_text(text)
    assert kubeconfig_view.load(str(path)).current_context == "fleet-0000"  # parses and writes the index
    monkeypatch.setattr(kubeconfig_yaml, "parse", lambda *a: pytest.fail("parsed the kubeconfig"))
    path.write_text(text.replace("current-context: fleet-0000", "current-context: fleet-0007"))
    view = kubeconfig_view.load(str(path))
    assert view.current_context == "fleet-0007" and len(view.contexts) == 60
    assert view.cluster_of("fleet-0003-fqdn").body["server"] == "https://fleet-0003.fleet.invalid"


def test_the_read_only_view_rejects_what_the_full_load_rejects(tmp_path):
    path = tmp_path / "config"
    for text in ("clusters: [unclosed\n", "- a list\n"):
        path.write_text(text)
        with pytest.raises(InputError) as full:
            kubeconfig_files.load(str(path))
        with pytest.raises(InputError) as view:
            kubeconfig_view.load(str(path))
        assert str(view.value) == str(full.value)
    path.write_bytes(b"current-context: \xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        kubeconfig_view.load(str(path))
    with pytest.raises(InputError, match="does not exist"):
        kubeconfig_view.load(str(tmp_path / "missing"))


def test_a_command_that_loads_the_kubeconfig_rewrites_the_index_only_when_it_no_longer_holds(tmp_path, own_store):
    path = tmp_path / "config"
    text = fleet_kubeconfig(20)
    path.write_text(text)
    kubeconfig_files.load(str(path))
    [index] = own_store.rglob("*.idx")
    written = index.stat().st_ino, index.stat().st_mtime_ns
    path.write_text(text.replace("current-context: fleet-0000", "current-context: fleet-0007"))
    assert kubeconfig_files.load(str(path)).current_context == "fleet-0007"  # the parse, not the index, answers
    assert (index.stat().st_ino, index.stat().st_mtime_ns) == written  # only the current-context value changed
    path.write_text(text.replace("https://fleet-0003.fleet.invalid", "https://fleet-0003.fleet.example"))
    kubeconfig_files.load(str(path))
    assert index.stat().st_ino != written[0]
    assert kubeconfig_index.cluster_info(Store(str(own_store)), [str(path)], "fleet-0003-fqdn")["server"] == \
        "https://fleet-0003.fleet.example"


def test_status_of_600_proxy_endpoints_ends_cleanly_with_one_tls_context_per_trust(logged_in, world):
    """Probing hundreds of endpoints at once: each probe ends within the budget, so no thread is still inside
    OpenSSL when the command exits (it crashed with SIGSEGV in most runs when each thread made its own context)."""
    text = fleet_kubeconfig(200, server=world.rancher_url)
    logged_in.kubeconfig.write_text(text.replace("endpoint: fqdn", "endpoint: proxy").replace("endpoint: node",
                                                                                           "endpoint: proxy"))
    for _ in range(3):
        result = logged_in.ace("status", "--all", "-o", "json")
        assert result.returncode in (0, 1), (result.returncode, result.stderr[-300:])
        assert "Traceback" not in result.stderr
        json.loads(result.stdout)
