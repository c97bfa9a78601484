"""The suite really runs async tests under both event loops."""

import asyncio

import uvloop


async def test_runs_under_each_loop(request):
    loop = asyncio.get_running_loop()
    if "[uvloop]" in request.node.name:
        assert isinstance(loop, uvloop.Loop)
    else:
        assert not isinstance(loop, uvloop.Loop)
