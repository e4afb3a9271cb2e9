"""kubedag.yaml_reading reads YAML as kubectl does (go-yaml v2, YAML 1.1, then JSON)."""

from typing import Any

import pytest
import yaml

from kubedag.yaml_reading import KubectlLoader, read_documents


def read_one(text: str) -> Any:
    documents, error = read_documents(text)
    assert error is None
    assert len(documents) == 1 and documents[0].error is None, documents
    return documents[0].content


def test_unquoted_key_n_is_stored_as_false_with_a_warning() -> None:
    documents, _ = read_documents("items: [{n: 1, e: odd}]\n")
    assert documents[0].content == {"items": [{"false": 1, "e": "odd"}]}
    [surprise] = documents[0].surprises
    assert surprise.path == ("items", 0, "false")
    assert surprise.is_key
    assert 'the key n is stored as "false"' in str(surprise)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        *[("y", True), ("Yes", True), ("on", True), ("ON", True), ("n", False), ("NO", False)],
        *[("off", False), ("Off", False), ("true", True), ("False", False)],
    ],
)
def test_yaml_1_1_boolean_words_are_booleans(text: str, value: bool) -> None:
    assert read_one(f"a: {text}\n") == {"a": value}


def test_boolean_words_that_yaml_1_2_reads_as_strings_are_surprises() -> None:
    documents, _ = read_documents("a: on\nb: true\nc: off\n")
    assert [(s.path, s.reading) for s in documents[0].surprises] == [
        (("a",), True),
        (("c",), False),
    ]


def test_quoted_and_block_scalars_stay_strings() -> None:
    text = "a: 'n'\nb: \"on\"\nc: |\n  yes\nd: '0x1F'\n'n': 1\n"
    documents, _ = read_documents(text)
    assert documents[0].content == {"a": "n", "b": "on", "c": "yes\n", "d": "0x1F", "n": 1}
    assert documents[0].surprises == []


def test_timestamps_stay_strings() -> None:
    text = "a: 2024-01-31\nb: 2001-12-14t21:59:43.10-05:00\nc: 2001-12-14 21:59:43.10\n"
    assert read_one(text) == {
        "a": "2024-01-31",
        "b": "2001-12-14t21:59:43.10-05:00",
        "c": "2001-12-14 21:59:43.10",
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", 12),
        ("+12", 12),
        ("-0", 0),
        ("0x1F", 31),
        ("017", 15),  # YAML 1.1 octal
        ("0o17", 15),  # Go's ParseInt takes the 0o prefix too
        ("0b101", 5),
        ("0b-101", -5),  # resolve.go's own 0b branch takes a sign after the prefix
        ("1_000", 1000),
        ("08", 8),  # not octal: read as the float 8, sent as the JSON number 8
        ("3.0", 3),  # a whole float is sent as an integer
        ("1e3", 1000),
        ("2.5", 2.5),
        (".5", 0.5),
        ("9223372036854775807", 2**63 - 1),
        ("18446744073709551615", float(2**64 - 1)),  # uint64: the server decodes a float
        ("1e999", "1e999"),  # out of range: a string
        ("1:30", "1:30"),  # no base-60 numbers in go-yaml
        ("0x", "0x"),
        ("~", None),
        ("null", None),
        (".Nan", ".Nan"),
    ],
)
def test_numbers_as_go_yaml_v2_reads_them(text: str, value: Any) -> None:
    read = read_one(f"a: {text}\n")["a"]
    assert read == value and type(read) is type(value)


def test_octal_and_underscored_numbers_are_surprises() -> None:
    documents, _ = read_documents("a: 0755\nb: 1_000\nc: 3.0\nd: 12\n")
    assert [(s.path, s.reading) for s in documents[0].surprises] == [(("a",), 493), (("b",), 1000)]


def test_non_string_keys_become_json_keys() -> None:
    text = "true: a\n1: b\n0x10: c\n1.5: d\n1e6: e\n-.inf: f\n"
    assert read_one(text) == {"true": "a", "1": "b", "16": "c", "1.5": "d", "1e+06": "e"} | {
        "-.inf": "f"
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: .nan\n", "cannot be sent as JSON"),
        ("a: .inf\n", "cannot be sent as JSON"),
        ("~: 1\n", "unsupported map key of type: <nil>"),
        ("? [a]\n: 1\n", "invalid map key"),
        ("a: &x [*x]\n", "recursive alias"),
        ("a: !!int abc\n", "cannot decode !!str `abc` as a !!int"),
    ],
)
def test_what_json_cannot_hold_is_an_error_of_its_document(text: str, error: str) -> None:
    documents, syntax_error = read_documents(text + "---\nnext: 1\n")
    assert syntax_error is None
    assert error in (documents[0].error or "")
    assert documents[1].content == {"next": 1}


def test_merge_keys_apply_in_document_order() -> None:
    text = (
        "base: &base {a: 1, b: 1}\n"
        "other: &other {b: 2, c: 2}\n"
        "before: {a: 0, <<: *base}\n"  # go-yaml v2 sets the merged a after the own a
        "after: {<<: *base, a: 0}\n"
        "list: {<<: [*base, *other]}\n"  # the first map of the list wins
    )
    content = read_one(text)
    assert content["before"] == {"a": 1, "b": 1}
    assert content["after"] == {"a": 0, "b": 1}
    assert content["list"] == {"a": 1, "b": 1, "c": 2}


def test_a_duplicate_key_keeps_the_last_value_and_is_reported() -> None:
    documents, _ = read_documents("spec:\n  a: 1\n  a: 2\n")
    assert documents[0].content == {"spec": {"a": 2}}
    assert documents[0].duplicate_keys == [("spec", "a")]


def test_an_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    documents, _ = read_documents("\n".join(lines) + "\n")
    assert "excessive aliasing" in (documents[0].error or "")


def test_unknown_tags_keep_the_text_and_binary_is_decoded() -> None:
    assert read_one("a: !custom 12\nb: !!binary aGVsbG8=\nc: !!str 12\nd: !!float 1\n") == {
        "a": "12",
        "b": "hello",
        "c": "12",
        "d": 1,
    }


def test_a_syntax_error_keeps_the_documents_before_it() -> None:
    documents, error = read_documents("a: 1\n---\nb: [unclosed\n")
    assert [document.content for document in documents] == [{"a": 1}]
    assert error is not None and "expected ',' or ']'" in error


def test_the_loader_works_with_pyyaml_load_all() -> None:
    assert list(yaml.load_all("a: no\n---\nb: 0x10\n", Loader=KubectlLoader)) == [
        {"a": False},
        {"b": 16},
    ]


def test_a_document_nested_too_deeply_is_an_error_not_a_crash() -> None:
    documents, error = read_documents("b: 1\n---\na: " + "[" * 5000 + "]" * 5000 + "\n")
    assert [document.content for document in documents] == [{"b": 1}]
    assert error is not None and "nested too deeply" in error
