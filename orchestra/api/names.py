"""Kubernetes name and label syntax rules, with Kubernetes' own error messages.

Each ``is_*`` function mirrors one in k8s.io/apimachinery ``pkg/util/validation`` and
returns a list of problems (empty when the value is valid), worded exactly as
Kubernetes words them so that messages match what ``kubectl`` users know.
:func:`validate_labels` and :func:`validate_annotations` turn those into
:class:`~orchestra.api.errors.FieldError` lists for object metadata.

Object names are checked on every create, and most are new: the RFC 1123 label and
subdomain checks accept a valid one with a compiled loop (``orchestra._ext.names``), and
only a rejected one goes through the regex that words the error. Other checks remember
the strings they found valid (label keys and values repeat across objects).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Callable

from orchestra._ext import names as _compiled
from orchestra.api.errors import FieldError

__all__ = [
    "DNS1035_LABEL_MAX_LENGTH",
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "PORT_NAME_MAX_LENGTH",
    "QUALIFIED_NAME_MAX_LENGTH",
    "TOTAL_ANNOTATION_SIZE_LIMIT",
    "dns1123_label_ok",
    "dns1123_subdomain_ok",
    "empty_error",
    "inclusive_range_error",
    "is_config_map_key",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_env_var_name",
    "is_qualified_name",
    "is_valid_ip",
    "is_valid_label_value",
    "is_valid_port_name",
    "is_valid_port_num",
    "max_len_error",
    "regex_error",
    "validate_annotations",
    "validate_label_name",
    "validate_labels",
]

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
PORT_NAME_MAX_LENGTH = 15
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

_QNAME_CHAR = "[A-Za-z0-9]"
_QNAME_EXT_CHAR = "[-A-Za-z0-9_.]"
QUALIFIED_NAME_FMT = f"({_QNAME_CHAR}{_QNAME_EXT_CHAR}*)?{_QNAME_CHAR}"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
LABEL_VALUE_FMT = f"({QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
    "or '-', and must start and end with an alphanumeric character"
)
DNS1123_SUBDOMAIN_FMT = f"{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
ENV_VAR_NAME_FMT = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_ENV_VAR_NAME_MSG = (
    "a valid environment variable name must consist of alphabetic characters, "
    "digits, '_', '-', or '.', and must not start with a digit"
)
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"


def _matcher(fmt: str) -> re.Pattern[str]:
    """``fmt`` compiled with non-capturing groups: the same strings match, with less work per match
    (``fmt`` itself is what error messages quote)."""
    return re.compile(fmt.replace("(", "(?:"))


_QUALIFIED_NAME_RE = _matcher(QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = _matcher(LABEL_VALUE_FMT)
_DNS1123_LABEL_RE = _matcher(DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN_RE = _matcher(DNS1123_SUBDOMAIN_FMT)
_DNS1035_LABEL_RE = _matcher(DNS1035_LABEL_FMT)
_ENV_VAR_NAME_RE = re.compile(ENV_VAR_NAME_FMT)
_CONFIG_MAP_KEY_RE = re.compile(CONFIG_MAP_KEY_FMT)
_PORT_NAME_CHARSET_RE = re.compile("[-a-z0-9]+")
_PORT_NAME_LETTER_RE = re.compile("[a-z]")
_IPV4_SLOPPY_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{1,3}){3}")


def empty_error() -> str:
    """Kubernetes' ``EmptyError``."""
    return "must be non-empty"


def max_len_error(length: int) -> str:
    """Kubernetes' ``MaxLenError``."""
    return f"must be no more than {length} characters"


def inclusive_range_error(lo: int, hi: int) -> str:
    """Kubernetes' ``InclusiveRangeError``."""
    return f"must be between {lo} and {hi}, inclusive"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """Kubernetes' ``RegexError``: the rule, examples, and the regex used."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _full(pattern: re.Pattern[str], value: str) -> bool:
    return pattern.fullmatch(value) is not None


#: How many valid strings each remembering check keeps.
_REMEMBERED_VALID = 65536


def _remember_valid(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """``check``, answering ``[]`` at once for a string it already found valid (a pure function).

    The remembered strings start afresh once there are :data:`_REMEMBERED_VALID` of them, so a
    long-running server keeps remembering its recent strings instead of only its first ones.
    """
    valid: set[str] = set()

    @functools.wraps(check)
    def remembered(value: str) -> list[str]:
        if type(value) is str and value in valid:
            return []
        errs = check(value)
        if not errs and type(value) is str:
            if len(valid) >= _REMEMBERED_VALID:
                valid.clear()
            valid.add(value)
        return errs

    return remembered


@_remember_valid
def is_qualified_name(value: str) -> list[str]:
    """A label or annotation key: ``name`` or ``prefix/name`` (prefix a DNS subdomain)."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + msg for msg in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _full(_QUALIFIED_NAME_RE, name):
        errs.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


@_remember_valid
def is_valid_label_value(value: str) -> list[str]:
    """A label value: empty, or at most 63 qualified-name characters."""
    errs: list[str] = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _full(_LABEL_VALUE_RE, value):
        errs.append(regex_error(_LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


#: Whether a value is a str the compiled loop accepts as an RFC 1123 label (subdomain): a
#: yes or no with no error list made, for a check that needs no wording. It may refuse what
#: :func:`is_dns1123_label` (:func:`is_dns1123_subdomain`) accepts, never the reverse.
dns1123_label_ok = _compiled.dns1123_label
dns1123_subdomain_ok = _compiled.dns1123_subdomain


def is_dns1123_label(value: str) -> list[str]:
    """An RFC 1123 label (most object names of the ``metadata.name`` kind, namespaces)."""
    if _compiled.dns1123_label(value):
        return []
    errs: list[str] = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _full(_DNS1123_LABEL_RE, value):
        errs.append(regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """An RFC 1123 subdomain (the default rule for object names)."""
    if _compiled.dns1123_subdomain(value):
        return []
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _full(_DNS1123_SUBDOMAIN_RE, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


@_remember_valid
def is_dns1035_label(value: str) -> list[str]:
    """An RFC 1035 label (Service names): starts with a letter."""
    errs: list[str] = []
    if len(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _full(_DNS1035_LABEL_RE, value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


@_remember_valid
def is_valid_port_name(port: str) -> list[str]:
    """An IANA_SVC_NAME: 1-15 of ``[-a-z0-9]``, a letter, no ``--``, no edge hyphen."""
    errs: list[str] = []
    if len(port) > PORT_NAME_MAX_LENGTH:
        errs.append(max_len_error(PORT_NAME_MAX_LENGTH))
    if not _full(_PORT_NAME_CHARSET_RE, port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER_RE.search(port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_valid_port_num(port: int) -> list[str]:
    """A TCP/UDP port number, 1-65535."""
    if not isinstance(port, bool) and isinstance(port, int) and 1 <= port <= 65535:
        return []
    return [inclusive_range_error(1, 65535)]


def _chdir_prefix_errors(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_env_var_name(value: str) -> list[str]:
    """An environment variable name (``MY_VAR``, ``my.env-name``)."""
    errs: list[str] = []
    if not _full(_ENV_VAR_NAME_RE, value):
        errs.append(
            regex_error(_ENV_VAR_NAME_MSG, ENV_VAR_NAME_FMT, "my.env-name", "MY_ENV.NAME", "MyEnvName1")
        )
    errs.extend(_chdir_prefix_errors(value))
    return errs


def is_config_map_key(value: str) -> list[str]:
    """A ConfigMap / Secret data key (also a file name when mounted)."""
    errs: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _full(_CONFIG_MAP_KEY_RE, value):
        errs.append(regex_error(_CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    errs.extend(_chdir_prefix_errors(value))
    return errs


def is_valid_ip(value: str) -> list[str]:
    """An IPv4 or IPv6 address; IPv4 octets may carry leading zeros, as Go's sloppy parser allows."""
    try:
        ipaddress.ip_address(value)
        return []
    except ValueError:
        pass
    if _full(_IPV4_SLOPPY_RE, value) and all(int(octet) <= 255 for octet in value.split(".")):
        return []
    return ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]


def validate_label_name(name: Any, path: str) -> list[FieldError]:
    """Errors for one label key (a qualified name), reported at ``path``."""
    if not isinstance(name, str):
        return [FieldError.type_invalid(path, name, "label keys must be strings")]
    return [FieldError.invalid(path, name, msg) for msg in is_qualified_name(name)]


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """Errors for a labels map: keys qualified names, values valid label values.

    As in Kubernetes, every error is reported at ``path`` itself with the bad key or
    value as the offending value.
    """
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [FieldError.type_invalid(path, labels, "must be a map of string keys to string values")]
    errs: list[FieldError] = []
    for key, value in labels.items():
        errs.extend(validate_label_name(key, path))
        if not isinstance(value, str):
            errs.append(FieldError.type_invalid(path, value, "label values must be strings"))
            continue
        errs.extend(FieldError.invalid(path, value, msg) for msg in is_valid_label_value(value))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """Errors for an annotations map: keys qualified names (any case), total size <= 256 KiB."""
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [FieldError.type_invalid(path, annotations, "must be a map of string keys to string values")]
    errs: list[FieldError] = []
    total = 0
    for key, value in annotations.items():
        if not isinstance(key, str):
            errs.append(FieldError.type_invalid(path, key, "annotation keys must be strings"))
            continue
        errs.extend(FieldError.invalid(path, key, msg) for msg in is_qualified_name(key.lower()))
        if not isinstance(value, str):
            errs.append(FieldError.type_invalid(path, value, "annotation values must be strings"))
            continue
        total += len(key.encode()) + len(value.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(FieldError.too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs
