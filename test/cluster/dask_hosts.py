"""Vega's dask (seed 001) over two hosts' material: the scheduler with
its own pair and CA file, a worker and a client with the worker host's
pair and CA file, TLS 1.3 minimum and both ends verified (distributed
sets CERT_REQUIRED on every TLS context). A task then runs on the
worker. Two probes against the scheduler must be refused: a TLS 1.2
client with the worker's pair, and a TLS 1.3 client without a cert.

usage: dask_hosts.py SCHED_CA SCHED_CRT SCHED_KEY WORKER_CA WORKER_CRT WORKER_KEY
exit 0 and "result 42 tls1.3 mutual" on success; exit 1 otherwise."""
import asyncio
import socket
import ssl
import sys

from distributed import Client, Scheduler, Worker
from distributed.security import Security


def security(ca, crt, key, *roles):
    kw = {"tls_ca_file": ca, "tls_min_version": ssl.TLSVersion.TLSv1_3}
    for role in roles:
        kw["tls_%s_cert" % role] = crt
        kw["tls_%s_key" % role] = key
    return Security(require_encryption=True, **kw)


def probe(addr, ca, crt=None, key=None, max_version=None):
    """'accepted' when the scheduler keeps the connection, else why not."""
    host, port = addr.removeprefix("tls://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False  # as distributed: a cluster CA, peers by IP
    if max_version:
        ctx.maximum_version = max_version
    if crt:
        ctx.load_cert_chain(crt, key)
    try:
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with ctx.wrap_socket(raw) as s:
                # TLS 1.3: a refused client cert shows as an alert on read.
                s.settimeout(10)
                return "closed" if s.recv(1) == b"" else "accepted"
    except socket.timeout:
        return "accepted"
    except (ssl.SSLError, OSError) as e:
        return "refused: %s" % e


async def main(sca, scrt, skey, wca, wcrt, wkey):
    sched_host = security(sca, scrt, skey, "scheduler")
    worker_host = security(wca, wcrt, wkey, "worker", "client")
    async with Scheduler(protocol="tls", host="127.0.0.1", port=0, dashboard_address=":0", security=sched_host) as s:
        async with Worker(s.address, host="127.0.0.1", nthreads=1, security=worker_host) as w:
            async with Client(s.address, asynchronous=True, timeout="20s", security=worker_host) as c:
                result = await c.submit(lambda x: x + 1, 41, workers=[w.address])
            old = await asyncio.to_thread(probe, s.address, wca, wcrt, wkey, ssl.TLSVersion.TLSv1_2)
            anon = await asyncio.to_thread(probe, s.address, wca)
    print("scheduler", s.address, "worker", w.address)
    print("tls1.2 probe:", old)
    print("no-cert probe:", anon)
    ok = result == 42 and old.startswith("refused") and anon != "accepted"
    if ok:
        print("result", result, "tls1.3 mutual")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(*sys.argv[1:7]), 90)))
