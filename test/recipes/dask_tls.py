"""Vega's dask set-up (seed 001): a distributed scheduler and worker with
distributed.comm.tls settings (ca-file, scheduler/worker/client cert and
key, min-version 1.3) over tls://127.0.0.1, then a client runs a task.

usage: dask_tls.py CA SERVER_CRT SERVER_KEY CLIENT_CRT CLIENT_KEY
exit 0 and "result 42 tls1.3" on success."""
import asyncio
import ssl
import sys

import dask
from distributed import Client, Scheduler, Worker


async def main(ca, scert, skey, ccert, ckey):
    tls = {
        "distributed.comm.tls.ca-file": ca,
        "distributed.comm.tls.min-version": 1.3,
        "distributed.comm.tls.scheduler.cert": scert,
        "distributed.comm.tls.scheduler.key": skey,
        "distributed.comm.tls.worker.cert": ccert,
        "distributed.comm.tls.worker.key": ckey,
        "distributed.comm.tls.client.cert": ccert,
        "distributed.comm.tls.client.key": ckey,
        "distributed.comm.require-encryption": True,
    }
    with dask.config.set(tls):
        async with Scheduler(protocol="tls", host="127.0.0.1", port=0, dashboard_address=":0") as s:
            async with Worker(s.address, host="127.0.0.1", nthreads=1) as w:
                async with Client(s.address, asynchronous=True, timeout="20s") as c:
                    result = await c.submit(lambda x: x + 1, 41)
                    ctx = c.security.get_connection_args("client")["ssl_context"]
                    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3, ctx.minimum_version
                    print("scheduler", s.address, "worker", w.address)
                    print("result", result, "tls1.3")
                    return 0 if result == 42 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(*sys.argv[1:6]), 60)))
