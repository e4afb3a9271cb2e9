"""Reading YAML the way kubectl does, so `kubedag lint` sees what the API server will store.

kubectl turns a manifest into JSON with sigs.k8s.io/yaml, which decodes with go-yaml v2
(YAML 1.1) into `interface{}` and then converts the result to JSON. What that means, each
point checked against go-yaml v2's `resolve.go` / `decode.go` and sigs.k8s.io/yaml's
`yaml.go`:

- plain `y Y yes Yes YES n N no No NO on On ON off Off OFF` are booleans, as are
  `true/True/TRUE/false/False/FALSE`; `~ null Null NULL` and the empty scalar are null;
- integers are whatever Go's `strconv.ParseInt(s, 0, 64)` accepts once underscores are
  removed (`0x1F`, `0o17`, `0b101`, and `017` is octal 15), then `ParseUint`; floats match
  `[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?` (so `08` is the float 8), plus
  `.inf .nan` and their spellings; a number out of range stays a string; base-60 numbers
  (`1:30`) are not numbers;
- timestamps stay strings: decoding into `interface{}` keeps the text (go-yaml v2 keeps it
  "for backward compatibility");
- quoted and block scalars are always strings; unknown tags (`!foo`) are ignored;
- map keys become JSON strings: booleans `"true"/"false"`, integers in decimal, floats in
  Go's shortest single-precision form; a null key is an error;
- `<<` merges apply in document order (a later key wins, the merged maps of a list are
  applied last to first);
- the JSON text is what the API server decodes: a whole float such as `3.0` arrives as the
  integer 3, NaN and infinity cannot be sent at all.

Where this reading differs from YAML 1.2 (what editors and most people assume), the
reader also reports a `Surprise` with its path, so lint can say why a value changed.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

STR = "tag:yaml.org,2002:str"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"
BINARY = "tag:yaml.org,2002:binary"
TIMESTAMP = "tag:yaml.org,2002:timestamp"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"

# go-yaml v2's resolveMap.
_WORDS: dict[str, tuple[str, Any]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), (BOOL, True)),
    **dict.fromkeys(("on", "On", "ON"), (BOOL, True)),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), (BOOL, False)),
    **dict.fromkeys(("off", "Off", "OFF"), (BOOL, False)),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), (NULL, None)),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), (FLOAT, math.nan)),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (FLOAT, math.inf)),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), (FLOAT, -math.inf)),
}
# go-yaml v2's resolveTable: only a scalar starting with one of these can be anything but
# a string ('M' words are looked up in _WORDS only).
_WORD_ONLY_FIRST = set("yYnNtTfFoO~")
_NUMBER_FIRST = set("+-0123456789")
# Go's strconv.ParseUint(s, 0, 64) syntax (ParseInt adds a sign).
_GO_UNSIGNED = re.compile(r"0[bB]([01]+)|0[oO]([0-7]+)|0[xX]([0-9a-fA-F]+)|0([0-7]*)|([1-9][0-9]*)")
_GO_BASES = (2, 8, 16, 8, 10)
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")  # what Go's ParseFloat takes after '.'
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
# go-yaml v2.4 refuses "excessive aliasing" (billion laughs); this is its ratio rule.
_ALIAS_FLOOR = (100, 1000)


# Where a value is: object keys and list indexes from the document's root.
Path = tuple[str | int, ...]


# The API server stores JSON up to 10,000 levels deep; PyYAML and the checks after it
# recurse per level and stop near Python's recursion limit. Raising the limit as the
# operator does would risk the C stack in the C parser and in jsonschema, so lint says it
# cannot check such a document rather than crash.
_TOO_DEEP = (
    "nested too deeply for lint to read (about 1,000 levels, Python's recursion limit; "
    "the API server takes up to 10,000)"
)


class ReadingError(ValueError):
    """The text cannot become the JSON kubectl would send."""


def resolve_plain_scalar(text: str) -> tuple[str, Any]:
    """The tag and value go-yaml v2 gives an unquoted scalar (its `resolve` for tag "").

    A timestamp-like text resolves to a timestamp in go-yaml but is kept as its text when
    decoding into `interface{}`; no timestamp text is also a number, so it is a string here.
    """
    if text in _WORDS:
        return _WORDS[text]
    first = text[0]
    if first == ".":
        if _DOT_FLOAT.fullmatch(text) and math.isfinite(number := float(text)):
            return FLOAT, number
        return STR, text
    if first not in _NUMBER_FIRST:
        return STR, text
    plain = text.replace("_", "")
    integer = _go_parse_int(plain, signed=True)
    if integer is not None and _INT64[0] <= integer <= _INT64[1]:
        return INT, integer
    integer = _go_parse_int(plain, signed=False)
    if integer is not None and integer <= _UINT64_MAX:
        return INT, integer
    if _YAML_STYLE_FLOAT.fullmatch(plain) and math.isfinite(number := float(plain)):
        return FLOAT, number
    # resolve.go then tries ParseInt(plain[2:], 2) for a "0b" prefix, which also takes a
    # sign after the prefix: `0b-101` is -5.
    if (match := re.fullmatch(r"0b([-+]?[01]+)", plain)) and (
        _INT64[0] <= (integer := int(match.group(1), 2)) <= _INT64[1]
    ):
        return INT, integer
    return STR, text


def _go_parse_int(text: str, *, signed: bool) -> int | None:
    sign = 1
    if signed and text[:1] in ("+", "-"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    match = _GO_UNSIGNED.fullmatch(text)
    if match is None:
        return None
    for digits, base in zip(match.groups(), _GO_BASES, strict=True):
        if digits is not None:
            return sign * (int(digits, base) if digits else 0)
    return None  # pragma: no cover - one group always matches


def as_received(value: Any) -> Any:
    """A decoded number as the API server receives it after kubectl's JSON encoding: Go
    prints a whole float64 without a fraction, and the server decodes a number that
    parses as int64 to an integer and any other number to a float."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ReadingError(f"{value} cannot be sent as JSON (json: unsupported value)")
        if value.is_integer() and _INT64[0] <= value <= _INT64[1]:
            return int(value)
        return value
    return value if _INT64[0] <= value <= _INT64[1] else float(value)


def go_float32_text(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), the way sigs.k8s.io/yaml names a float key."""
    if math.isnan(value):
        return ".nan"
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        single = math.copysign(math.inf, value)
    if math.isinf(single):
        return ".inf" if single > 0 else "-.inf"
    sign = "-" if math.copysign(1.0, single) < 0 else ""
    if single == 0:
        return sign + "0"
    for precision in range(1, 10):  # the shortest decimal that reads back as the same float32
        text = f"{abs(single):.{precision - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == abs(single):
            break
    mantissa, exponent_text = text.split("e")
    digits = mantissa.replace(".", "").rstrip("0") or "0"
    exponent = int(exponent_text)
    if exponent < -4 or exponent >= 6:  # Go's %g switch for the shortest form
        fraction = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{fraction}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
    return sign + whole + (f".{fraction}" if fraction else "")


def _typed_scalar(node: ScalarNode) -> Any:
    """A scalar's value under its tag, implicit or explicit (`!!int "12"`), as resolve.go
    decodes it; a value that does not fit its explicit tag is an error there too."""
    if node.tag in (STR, TIMESTAMP, MERGE):  # `!!timestamp` text is kept, not checked
        return node.value
    if node.tag == BINARY:
        try:
            return base64.b64decode(node.value, validate=False).decode(errors="replace")
        except ValueError as error:
            raise ReadingError("!!binary value contains invalid base64 data") from error
    tag, value = resolve_plain_scalar(node.value)
    if tag == node.tag:
        return value
    if node.tag == FLOAT and tag == INT:
        return float(value)
    raise ReadingError(f"cannot decode {_short(tag)} `{node.value}` as a {_short(node.tag)}")


def _short(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def mapping_pairs(node: MappingNode) -> Iterator[tuple[Node, Node]]:
    """The key/value nodes of a mapping in the order go-yaml v2 sets them: each `<<` merge
    replaced by the pairs it merges (a list of maps from last to first, so the first wins),
    later pairs overwriting earlier ones."""
    for key, value in node.value:
        if key.tag != MERGE:
            yield key, value
            continue
        merged = list(reversed(value.value)) if isinstance(value, SequenceNode) else [value]
        for source in merged:
            if not isinstance(source, MappingNode):
                raise ReadingError("map merge requires map or sequence of maps as the value")
            yield from mapping_pairs(source)


def json_key(node: Node) -> str:
    """A map key as sigs.k8s.io/yaml turns it into a JSON object key."""
    if not isinstance(node, ScalarNode):
        raise ReadingError("invalid map key: a key must be a scalar")
    value = _typed_scalar(node)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value > _INT64[1]:
            raise ReadingError(f"unsupported map key of type: uint64, key: {value}")
        return str(value)
    if isinstance(value, float):
        return go_float32_text(value)
    if value is None:
        raise ReadingError("unsupported map key of type: <nil>")
    return str(value)


# The tags go-yaml v2 resolves a scalar under (its `resolvableTag`, plus !!binary).
_RESOLVABLE = {STR, BOOL, INT, FLOAT, NULL, TIMESTAMP, BINARY, MERGE}


class _GoYamlV2Resolver(yaml.resolver.BaseResolver):
    """Tags plain scalars as go-yaml v2 does. go-yaml decides by trying parsers in order
    (ParseInt, ParseUint, then a float), an out-of-range number falling through to the
    next reading, which a first-match table of regular expressions cannot say; so this
    overrides `resolve`, PyYAML's hook for implicit tags, instead of registering
    `add_implicit_resolver` patterns."""

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> Any:
        if kind is ScalarNode and implicit[0]:
            if value == "<<":
                return MERGE
            return resolve_plain_scalar(value)[0]
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


class _GoYamlV2Constructor(yaml.constructor.BaseConstructor):
    """Builds the JSON value kubectl sends. Maps and lists are built in one piece
    (not as PyYAML's incremental generators), so a recursive alias is an error, as JSON
    cannot hold it."""

    def construct_json_value(self, node: Node) -> Any:
        if isinstance(node, MappingNode):
            return {
                json_key(key): self.construct_object(value, deep=True)
                for key, value in mapping_pairs(node)
            }
        if isinstance(node, SequenceNode):
            return [self.construct_object(item, deep=True) for item in node.value]
        if isinstance(node, ScalarNode) and node.tag in _RESOLVABLE:
            return as_received(_typed_scalar(node))
        return node.value  # any other tag (`!foo`, `!!set`): go-yaml v2 keeps the text


_GoYamlV2Constructor.add_constructor(None, _GoYamlV2Constructor.construct_json_value)  # type: ignore[type-var]

try:
    _Parser: type = yaml.CParser  # type: ignore[attr-defined]  # libyaml: go-yaml v2's parser is a Go port of it
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


class KubectlLoader(_Parser, _GoYamlV2Constructor, _GoYamlV2Resolver):  # type: ignore[misc]
    """`yaml.load_all(text, Loader=KubectlLoader)` gives the JSON documents kubectl sends."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)  # type: ignore[misc]
        _GoYamlV2Constructor.__init__(self)
        _GoYamlV2Resolver.__init__(self)


@dataclass(frozen=True)
class Surprise:
    """A plain scalar that YAML 1.1 (kubectl) reads differently from YAML 1.2, which is
    what editors and most people assume."""

    path: Path
    text: str
    reading: Any  # the value kubectl sends, or for a key the JSON key it becomes
    is_key: bool = False

    def __str__(self) -> str:
        quoted = '"' + self.text + '"'
        if self.is_key:
            meaning = _describe(resolve_plain_scalar(self.text)[1])
            return (
                f'the key {self.text} is stored as "{self.reading}": kubectl reads YAML 1.1, '
                f"where {self.text} is {meaning}; write {quoted} to keep the key {self.text}"
            )
        return (
            f"{self.text} is read as {_describe(self.reading)} (kubectl reads YAML 1.1); "
            f"write {quoted} for the string"
        )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if value is None:
        return "null"
    return f"the number {value}"


@dataclass
class Document:
    """One document of a file: its JSON value (None for an empty document), the places
    where YAML 1.1 changed a meaning, and why it could not be read, if it could not."""

    index: int
    content: Any = None
    surprises: list[Surprise] = field(default_factory=list)
    duplicate_keys: list[Path] = field(default_factory=list)
    error: str | None = None


def read_documents(text: str) -> tuple[list[Document], str | None]:
    """Every document of a YAML stream as kubectl reads it, and the syntax error that
    stopped the reading, if one did (documents before it are still returned)."""
    loader = KubectlLoader(text)
    documents: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            document = Document(index=len(documents))
            documents.append(document)
            try:
                _walk(node, (), document, _Budget())
                document.content = loader.construct_document(node)
            except (ReadingError, yaml.YAMLError) as error:
                document.error = _one_line(error)
            except RecursionError:
                document.error = _TOO_DEEP
            finally:
                loader.constructed_objects, loader.recursive_objects = {}, {}
                loader.state_generators = []
    except yaml.YAMLError as error:
        return documents, _one_line(error)
    except RecursionError:
        return documents, _TOO_DEEP
    finally:
        loader.dispose()
    return documents, None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


@dataclass
class _Budget:
    """go-yaml v2.4's guard against alias bombs: every decode is counted, and those made
    while expanding an alias too; too high a share of the latter is refused."""

    decoded: int = 0
    aliases: int = 0
    seen: set[int] = field(default_factory=set)
    open: set[int] = field(default_factory=set)

    def visit(self, node: Node, *, inside_alias: bool) -> bool:
        """Counts one decode; True when it happens inside an alias (the node, met before,
        is being decoded again)."""
        inside_alias = inside_alias or id(node) in self.seen
        self.seen.add(id(node))
        self.count(inside_alias=inside_alias)
        return inside_alias

    def count(self, *, inside_alias: bool) -> None:
        self.decoded += 1
        self.aliases += inside_alias
        if (
            self.aliases > _ALIAS_FLOOR[0]
            and self.decoded > _ALIAS_FLOOR[1]
            and self.aliases / self.decoded > _allowed_alias_ratio(self.decoded)
        ):
            raise ReadingError("document contains excessive aliasing")


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= 400_000:
        return 0.99
    if decoded >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (decoded - 400_000) / 3_600_000


def _walk(
    node: Node, path: Path, document: Document, budget: _Budget, *, inside_alias: bool = False
) -> None:
    """Finds the surprises of a document (once per place, not again through aliases),
    its duplicate keys, and refuses recursive aliases and alias bombs."""
    if id(node) in budget.open:
        raise ReadingError("a recursive alias cannot be turned into JSON")
    inside_alias = budget.visit(node, inside_alias=inside_alias)
    if isinstance(node, ScalarNode):
        if node.style is None and not inside_alias and (surprise := _value_surprise(node, path)):
            document.surprises.append(surprise)
        return
    budget.open.add(id(node))
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), document, budget, inside_alias=inside_alias)
    elif isinstance(node, MappingNode):
        own_key_nodes = {id(key) for key, _ in node.value}
        own_keys: set[str] = set()
        for key_node, value in mapping_pairs(node):
            budget.count(inside_alias=inside_alias)
            key = json_key(key_node)
            child = (*path, key)
            if id(key_node) in own_key_nodes:
                if key in own_keys and not inside_alias:
                    document.duplicate_keys.append(child)
                own_keys.add(key)
            plain_key = isinstance(key_node, ScalarNode) and key_node.style is None
            if plain_key and key != key_node.value and not inside_alias:
                document.surprises.append(Surprise(child, key_node.value, key, is_key=True))
            _walk(value, child, document, budget, inside_alias=inside_alias)
    budget.open.discard(id(node))


def _value_surprise(node: ScalarNode, path: Path) -> Surprise | None:
    if node.tag not in (STR, BOOL, INT, FLOAT, NULL):
        return None  # explicitly tagged
    try:
        kubectl = as_received(_typed_scalar(node))
    except ReadingError:
        return None  # reported as an error of the document
    if isinstance(kubectl, str):
        return None  # a string, as if quoted: nothing to warn about
    yaml_1_2 = _yaml_1_2_core(node.value)
    same_kind = type(kubectl) is type(yaml_1_2) or (
        isinstance(kubectl, int | float)
        and isinstance(yaml_1_2, int | float)
        and not isinstance(kubectl, bool)
        and not isinstance(yaml_1_2, bool)
    )
    if same_kind and (kubectl == yaml_1_2 or kubectl != kubectl):  # NaN never sent anyway
        return None
    return Surprise(path, node.value, kubectl)


_CORE_WORDS: dict[str, Any] = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
}


def _yaml_1_2_core(text: str) -> Any:
    """The value YAML 1.2's core schema gives a plain scalar (what most editors assume)."""
    if text in _CORE_WORDS:
        return _CORE_WORDS[text]
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text, 10)
    if re.fullmatch(r"0o[0-7]+", text):
        return int(text[2:], 8)
    if re.fullmatch(r"0x[0-9a-fA-F]+", text):
        return int(text[2:], 16)
    if _YAML_STYLE_FLOAT.fullmatch(text):
        return float(text)
    if re.fullmatch(r"[-+]?\.(inf|Inf|INF)", text):
        return -math.inf if text.startswith("-") else math.inf
    if re.fullmatch(r"\.(nan|NaN|NAN)", text):
        return math.nan
    return text
