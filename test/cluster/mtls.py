"""Mutual TLS between two hosts' material with Python's ssl (OpenSSL, as
MindIO TFT links through packagePath's OpenSSL): a server with one
host's cert, encrypted key, password and CA file, requiring a client
cert; a client with the other host's, verifying SERVER_NAME. An empty
password means a plain key.

usage: mtls.py SRV_CRT SRV_KEY SRV_PW SRV_CA CLI_CRT CLI_KEY CLI_PW CLI_CA SERVER_NAME
exit 0 and "mutual VERSION server-saw CN client-saw CN"; exit 3: refused."""
import socket
import ssl
import sys
import threading


def context(purpose, crt, key, pw, ca):
    ctx = ssl.create_default_context(purpose, cafile=ca)
    ctx.load_cert_chain(crt, key, password=pw or None)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def cn(cert):
    return dict(x[0] for x in cert["subject"]).get("commonName", "")


def main(scrt, skey, spw, sca, ccrt, ckey, cpw, cca, name):
    sctx = context(ssl.Purpose.CLIENT_AUTH, scrt, skey, spw, sca)
    cctx = context(ssl.Purpose.SERVER_AUTH, ccrt, ckey, cpw, cca)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)
    seen = {}

    def serve():
        try:
            conn, _ = listener.accept()
            with sctx.wrap_socket(conn, server_side=True) as s:
                seen["client"] = cn(s.getpeercert())
                s.sendall(b"ok")
        except (ssl.SSLError, OSError) as e:
            seen["error"] = str(e)

    th = threading.Thread(target=serve)
    th.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=20) as raw:
            with cctx.wrap_socket(raw, server_hostname=name) as s:
                # The server's "ok" proves it accepted the client cert.
                reply, version, server = s.recv(2), s.version(), cn(s.getpeercert())
    except (ssl.SSLError, OSError) as e:
        th.join()
        print("refused:", e, seen.get("error", ""))
        return 3
    th.join()
    if reply != b"ok" or "client" not in seen:
        print("refused by the server:", seen.get("error", reply))
        return 3
    print("mutual", version, "server-saw", seen["client"], "client-saw", server)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:10]))
