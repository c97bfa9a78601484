"""configMap volumes: which files a volume holds, and the atomic writer (no agent needed)."""

from __future__ import annotations

import os

import pytest

from orchestra.node.environment import CreateContainerConfigError
from orchestra.node.volumes import config_map_files, write_atomically

CM = {"data": {"a.conf": "x=1\n", "b": "two"}, "binaryData": {"bin": "AAEC"}}
FIELD = "spec.volumes[0].configMap"


def test_every_key_with_the_default_or_given_mode():
    assert config_map_files({"name": "cm"}, CM, FIELD) == {
        "a.conf": (b"x=1\n", 0o644), "b": (b"two", 0o644), "bin": (b"\x00\x01\x02", 0o644)}
    files = config_map_files({"name": "cm", "defaultMode": 0o600}, CM, FIELD)
    assert {mode for _, mode in files.values()} == {0o600}


def test_items_pick_keys_paths_and_modes():
    source = {"name": "cm", "items": [{"key": "b", "path": "sub/renamed", "mode": 0o400},
                                      {"key": "a.conf", "path": "a"}]}
    assert config_map_files(source, CM, FIELD) == {"sub/renamed": (b"two", 0o400), "a": (b"x=1\n", 0o644)}


def test_missing_config_map_or_key_and_optional():
    with pytest.raises(CreateContainerConfigError, match='configmap "cm" not found'):
        config_map_files({"name": "cm"}, None, FIELD)
    assert config_map_files({"name": "cm", "optional": True}, None, FIELD) == {}
    source = {"name": "cm", "items": [{"key": "zzz", "path": "z"}, {"key": "b", "path": "b"}]}
    with pytest.raises(CreateContainerConfigError, match="references non-existent config key: zzz"):
        config_map_files(source, CM, FIELD)
    assert config_map_files({**source, "optional": True}, CM, FIELD) == {"b": (b"two", 0o644)}


@pytest.mark.parametrize("path", ["/etc/passwd", "../up", "a/../../b", "..hidden", "", "a//b"])
def test_bad_item_paths_name_the_field(path):
    source = {"name": "cm", "items": [{"key": "b", "path": path}]}
    with pytest.raises(CreateContainerConfigError, match=r"spec.volumes\[0\].configMap.items\[0\].path"):
        config_map_files(source, CM, FIELD)


@pytest.mark.parametrize("mode", [-1, 0o1000, "0644", True])
def test_bad_modes_name_the_field(mode):
    with pytest.raises(CreateContainerConfigError, match=r"configMap.defaultMode: must be a file mode"):
        config_map_files({"name": "cm", "defaultMode": mode}, CM, FIELD)


def test_bad_binary_data_is_a_clear_error():
    with pytest.raises(CreateContainerConfigError, match="binaryData key 'bin' is not valid base64"):
        config_map_files({"name": "cm"}, {"binaryData": {"bin": "!!"}}, FIELD)


def test_write_atomically_swaps_the_whole_content(tmp_path):
    target = tmp_path / "vol"
    write_atomically(target, {"a": (b"1", 0o640), "sub/b": (b"2", 0o644)})
    assert (target / "a").read_bytes() == b"1" and (target / "sub" / "b").read_bytes() == b"2"
    assert oct(os.stat(target / "a").st_mode & 0o777) == oct(0o640)
    assert os.readlink(target / "a") == os.path.join("..data", "a")
    first = os.readlink(target / "..data")
    write_atomically(target, {"a": (b"new", 0o644)})
    assert (target / "a").read_bytes() == b"new"
    assert not (target / "sub").exists()
    assert not (target / first).exists()  # the old generation is gone
    assert sorted(p for p in os.listdir(target) if not p.startswith("..")) == ["a"]
