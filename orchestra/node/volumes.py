"""configMap volumes: a ConfigMap's data as files in a directory the container mounts, as the kubelet writes them.

For a volume ``{"name": "config", "configMap": {"name": "app", ...}}`` the agent reads the
ConfigMap and writes its keys as files under the pod's volume directory
(``<agent data dir>/pods/<pod uid>/volumes/kubernetes.io~configmap/<volume>``):

* every key of ``data`` (text) and ``binaryData`` (base64 in the API) becomes a file named after
  it, unless ``items`` lists the keys to project, each to its relative ``path`` (sub-directories
  allowed) with an optional per-file ``mode``;
* files get ``defaultMode`` (0644 unless set; an octal permission from 0 to 0777);
* a missing ConfigMap, or a key listed in ``items`` that it does not hold, leaves the container
  waiting with ``CreateContainerConfigError`` — unless the volume is ``optional``, when the
  directory holds what exists (nothing, for a missing ConfigMap).

Like the kubelet's atomic writer, the files live in a timestamped directory (``..2026_01_02…``)
that ``..data`` links to, and each top-level name is a link through ``..data``: writing again
(every container start refreshes the volume) swaps ``..data`` in one rename, so a reader never
sees half old, half new content.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from orchestra.node.environment import CreateContainerConfigError

__all__ = ["config_map_files", "write_atomically", "materialize_config_map", "volume_directory",
           "DEFAULT_MODE"]

#: The mode of a projected file unless the volume says otherwise (Kubernetes: 0644).
DEFAULT_MODE = 0o644
_DATA = "..data"

ObjectGetter = Callable[[str, str, str], Awaitable[dict | None]]


def volume_directory(pods_root: str | os.PathLike[str], pod_uid: str, volume: str) -> str:
    """Where a pod's configMap volume is written (the kubelet's layout)."""
    return os.path.join(os.fspath(pods_root), pod_uid, "volumes", "kubernetes.io~configmap", volume)


def _mode(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        raise CreateContainerConfigError(f"{field}: must be a file mode between 0 and 0777 (511), got {value!r}")
    return value


def _relative_path(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise CreateContainerConfigError(f"{field}: must be a non-empty relative path")
    parts = value.split("/")
    if value.startswith("/") or ".." in parts or any(p == "" for p in parts) or value.startswith(".."):
        raise CreateContainerConfigError(f"{field}: must be a relative path without '..' elements, got {value!r}")
    return value


def config_map_files(source: Mapping[str, Any], config_map: dict | None, field: str) -> dict[str, tuple[bytes, int]]:
    """The files of a configMap volume: relative path → (content, mode).

    ``source`` is the volume's ``configMap`` object, ``config_map`` the ConfigMap read from the
    API (None when it does not exist), ``field`` the volume's path in the pod for messages
    (``spec.volumes[0].configMap``). Raises :class:`CreateContainerConfigError`.
    """
    name = source.get("name") or ""
    optional = bool(source.get("optional"))
    default_mode = _mode(source.get("defaultMode", DEFAULT_MODE), f"{field}.defaultMode")
    if config_map is None:
        if optional:
            return {}
        raise CreateContainerConfigError(f'configmap "{name}" not found')
    values: dict[str, bytes] = {key: str(value).encode() for key, value in (config_map.get("data") or {}).items()}
    for key, value in (config_map.get("binaryData") or {}).items():
        try:
            values[key] = base64.b64decode(value, validate=True) if isinstance(value, str) else bytes(value)
        except (binascii.Error, TypeError, ValueError):
            raise CreateContainerConfigError(f'configmap "{name}": binaryData key {key!r} is not valid base64') from None
    items = source.get("items")
    if not items:
        return {key: (content, default_mode) for key, content in values.items()}
    files: dict[str, tuple[bytes, int]] = {}
    for index, item in enumerate(items):
        where = f"{field}.items[{index}]"
        key = item.get("key")
        path = _relative_path(item.get("path"), f"{where}.path")
        mode = _mode(item["mode"], f"{where}.mode") if item.get("mode") is not None else default_mode
        if key not in values:
            if optional:
                continue
            raise CreateContainerConfigError(f'configmap "{name}" references non-existent config key: {key}')
        files[path] = (values[key], mode)
    return files


def write_atomically(directory: str | os.PathLike[str], files: Mapping[str, tuple[bytes, int]]) -> None:
    """Make ``directory`` hold exactly ``files`` (relative path → (content, mode)), swapping them in at once."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    fresh = root / stamp
    fresh.mkdir()
    for path, (content, mode) in files.items():
        target = fresh / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        os.chmod(target, mode)
    link = root / _DATA
    previous = os.readlink(link) if link.is_symlink() else None
    staging = root / "..data_tmp"
    if staging.is_symlink() or staging.exists():
        staging.unlink()
    os.symlink(stamp, staging)
    os.replace(staging, link)
    wanted = {path.split("/", 1)[0] for path in files}
    for entry in os.listdir(root):
        if entry.startswith(".."):
            continue
        full = root / entry
        if entry not in wanted:
            full.unlink() if full.is_symlink() or full.is_file() else shutil.rmtree(full)
    for top in wanted:
        full = root / top
        if not full.is_symlink():
            os.symlink(os.path.join(_DATA, top), full)
    if previous and previous != stamp:
        shutil.rmtree(root / previous, ignore_errors=True)


async def materialize_config_map(volume: Mapping[str, Any], namespace: str, directory: str,
                                 get_object: ObjectGetter, field: str) -> None:
    """Read the volume's ConfigMap through ``get_object`` and write its files into ``directory``."""
    source = volume.get("configMap") or {}
    name = source.get("name")
    if not name:
        raise CreateContainerConfigError(f"{field}.name: a configMap volume must name its ConfigMap")
    config_map = await get_object("configmaps", namespace, name)
    files = config_map_files(source, config_map, field)
    try:
        write_atomically(directory, files)
    except OSError as exc:
        raise CreateContainerConfigError(f'cannot write configmap "{name}" into {directory}: {exc}') from None
