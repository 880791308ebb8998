"""The hand-written readers of the hot path agree with the standard library's: jsonlite and argv."""

from __future__ import annotations

import json

import pytest

from kubectl_ace import argv, jsonlite

DOCUMENTS = ['{"a": 1, "b": [true, false, null], "c": {"d": "é\\u00e9"}}', "[]", "  {}  ", '"x"', "1.5e3",
             '{"nested": ' * 50 + "0" + "}" * 50]
BROKEN = ["", "{", '{"a": 1,}', "NaN", '{"a": Infinity}', "[1] [2]", '{"a": 1} x']


@pytest.mark.parametrize("text", DOCUMENTS)
def test_jsonlite_reads_what_json_reads(text):
    assert jsonlite.loads(text) == json.loads(text)


@pytest.mark.parametrize("text", BROKEN)
def test_jsonlite_refuses_what_is_not_strict_json(text):
    with pytest.raises(ValueError):
        jsonlite.loads(text)


def test_jsonlite_quotes_like_json():
    for value in ("plain", 'q"uote', "new\nline", "ünï", "\x00"):
        assert json.loads(jsonlite.quote(value)) == value


def test_flags_are_read_in_both_forms():
    found = argv.flag_values(["get", "--context", "a", "--kubeconfig=/k", "--context=b"], ("--context", "--kubeconfig"))
    assert found == {"--context": "b", "--kubeconfig": "/k"}
    assert argv.flag_value(["--context"], "--context") is None
    assert argv.without_flag(["a", "--context", "x", "--context=y", "b"], "--context") == ["a", "b"]


def test_the_subcommand_is_found_after_global_flags_only():
    flags = ("--store", "--kubeconfig")
    assert argv.subcommand_at(["--store", "token", "token", "--server=x"], "token", flags) == 2
    assert argv.subcommand_at(["-v", "token"], "token", flags) == 1
    assert argv.subcommand_at(["status", "token"], "token", flags) is None


def test_parse_keeps_unknown_words_and_refuses_a_missing_value():
    options, rest = argv.parse(["--server", "s", "--skip-verify", "--odd", "x"], {"--server": "server"},
                               {"--skip-verify": "skip"})
    assert options == {"server": "s", "skip": True} and rest == ["--odd", "x"]
    with pytest.raises(ValueError):
        argv.parse(["--server"], {"--server": "server"}, {})
