"""``orchestra logs``: a container's output as written, blank lines included, in-process and over HTTP."""

from __future__ import annotations

import io

import pytest

from orchestra.cli.logs import stream_logs
from orchestra.client import ApiStatusError, Client
from node.agent_support import agent_cluster, pod_manifest, wait_for

pytestmark = pytest.mark.timeout(120)

OUTPUT = b"one\n\ntwo\n\n\nthree\n"


async def test_logs_keep_blank_lines_in_process_and_over_http(tmp_path):
    script = "printf 'one\\n\\ntwo\\n\\n\\nthree\\n'; sleep 3600"
    async with agent_cluster(tmp_path) as cluster:
        await cluster.create_pod(pod_manifest("blanks", [{"name": "main", "image": "sh",
                                                          "command": ["sh", "-c", script]}]))

        async def logged() -> bytes | None:
            out = io.BytesIO()
            try:
                await stream_logs(cluster.admin, "default", "blanks", None, out=out)
            except ApiStatusError:
                return None  # still starting
            return out.getvalue() if out.getvalue().endswith(b"three\n") else None

        assert await wait_for(logged, "the container's output") == OUTPUT
        await cluster.server.serve("127.0.0.1", 0)
        async with Client.from_kubeconfig(str(cluster.server.pki.kubeconfig)) as client:
            out = io.BytesIO()
            await stream_logs(client, "default", "blanks", "main", out=out)
            assert out.getvalue() == OUTPUT
            out = io.BytesIO()
            await stream_logs(client, "default", "blanks", "main", tail=3, out=out)
            assert out.getvalue() == b"\n\nthree\n"


async def test_logs_errors_are_api_status_errors(tmp_path):
    async with agent_cluster(tmp_path) as cluster:
        with pytest.raises(ApiStatusError) as info:
            await stream_logs(cluster.admin, "default", "absent", "main", out=io.BytesIO())
        assert info.value.code == 404
