"""Flower's TLS stack in miniature: a grpc server with
grpc.ssl_server_credentials(server.key, server.pem) and a client with
grpc.ssl_channel_credentials(root_certificates=ca.crt) to 127.0.0.1, as
flower-superlink / flower-supernode use them. One unary call.

usage: flower_grpc.py SERVER_PEM SERVER_KEY CA_CRT
exit 0: the call succeeded; exit 3: TLS/verification refused it."""
import sys
from concurrent import futures

import grpc

METHOD = "/flwr.test.Ping/Ping"


def serve(cert, key):
    def ping(request, context):
        return b"pong:" + request

    handler = grpc.method_handlers_generic_handler(
        "flwr.test.Ping",
        {"Ping": grpc.unary_unary_rpc_method_handler(ping)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials([(key, cert)])
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    return server, port


def main():
    cert, key, ca = (open(p, "rb").read() for p in sys.argv[1:4])
    server, port = serve(cert, key)
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=ca)
        with grpc.secure_channel("127.0.0.1:%d" % port, creds) as ch:
            call = ch.unary_unary(METHOD)
            try:
                reply = call(b"hello", timeout=10)
            except grpc.RpcError as e:
                print("refused:", e.code(), e.details())
                return 3
            print(reply.decode())
            return 0 if reply == b"pong:hello" else 1
    finally:
        server.stop(None)


if __name__ == "__main__":
    sys.exit(main())
