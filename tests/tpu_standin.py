"""A stand-in for the few Cloud TPU API (v2) calls that scripts/tpu.py makes, on 127.0.0.1, whose "TPU VMs" run
their startup scripts on this machine.

The real google-cloud-tpu client reaches it over REST (TPU_EMULATOR_HOST). A queued resource goes ACCEPTED,
PROVISIONING, then ACTIVE with its node READY, and the node's startup script runs in a folder of its own with the
environment the test gives (the storage emulator's). `preempt` (a regex): the first VM whose output matches it is
preempted as Compute Engine preempts: SIGTERM to every process of the VM, then, once they have exited, the node
is PREEMPTED and its queued resource SUSPENDED. Deleting a queued resource kills its VM.
"""

import http.server
import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse

PARENT = r"projects/[^/]+/locations/[^/]+"


class TpuStandIn:
    def __init__(self, folder, env, preempt=None):
        self.folder, self.env, self.preempt = str(folder), env, preempt and re.compile(preempt)
        self.resources, self.nodes, self.vms = {}, {}, {}
        self.calls, self.preempted = [], []
        self.refuse = False  # True: every call is refused, as for a credential without TPU permissions
        self.lock = threading.Lock()
        self.operations = itertools.count(1)
        os.makedirs(self.folder, exist_ok=True)

    # ---- the API --------------------------------------------------------------------------------------------

    def handle(self, method, path, query, body):
        self.calls.append((method, path))
        if self.refuse:
            return 403, {
                "error": {
                    "code": 403,
                    "message": "Permission 'tpu.queuedResources.list' denied",
                    "status": "PERMISSION_DENIED",
                }
            }
        if method == "POST" and (m := re.fullmatch(rf"/v2/({PARENT})/queuedResources", path)):
            return self.create(m.group(1), query["queuedResourceId"][0], body)
        if method == "GET" and (m := re.fullmatch(rf"/v2/({PARENT})/queuedResources", path)):
            with self.lock:
                found = [r for name, r in self.resources.items() if name.startswith(m.group(1) + "/")]
            return 200, {"queuedResources": found}
        if m := re.fullmatch(rf"/v2/({PARENT}/queuedResources/[^/]+)", path):
            if m.group(1) not in self.resources:
                return 404, {"error": {"code": 404, "message": f"{m.group(1)} not found", "status": "NOT_FOUND"}}
            if method == "GET":
                return 200, self.resources[m.group(1)]
            if method == "DELETE":
                return self.delete(m.group(1))
        if method == "GET" and (m := re.fullmatch(rf"/v2/({PARENT}/nodes/[^/]+)", path)):
            if m.group(1) in self.nodes:
                return 200, self.nodes[m.group(1)]
            return 404, {"error": {"code": 404, "message": f"{m.group(1)} not found", "status": "NOT_FOUND"}}
        return 400, {
            "error": {"code": 400, "message": f"the stand-in has no {method} {path}", "status": "INVALID_ARGUMENT"}
        }

    def operation(self, parent):
        return {"name": f"{parent}/operations/operation-{next(self.operations)}", "done": False}

    def create(self, parent, resource_id, body):
        name = f"{parent}/queuedResources/{resource_id}"
        if name in self.resources:
            return 409, {"error": {"code": 409, "message": f"{name} already exists", "status": "ALREADY_EXISTS"}}
        spec = body["tpu"]["nodeSpec"][0]
        node = dict(
            spec["node"], name=f"{spec['parent']}/nodes/{spec['nodeId']}", state="CREATING", queuedResource=name
        )
        with self.lock:
            self.resources[name] = dict(body, name=name, state={"state": "ACCEPTED"})
            self.nodes[node["name"]] = node
        threading.Thread(target=self.boot, args=(name, node["name"]), daemon=True).start()
        return 200, self.operation(parent)

    def delete(self, name):
        with self.lock:
            resource = self.resources.pop(name)
            node = resource["tpu"]["nodeSpec"][0]
            self.nodes.pop(f"{node['parent']}/nodes/{node['nodeId']}", None)
            vm = self.vms.pop(name, None)
        if vm:
            self.stop(vm, signal.SIGKILL)
        return 200, self.operation(name.split("/queuedResources/")[0])

    # ---- the VMs --------------------------------------------------------------------------------------------

    def set_state(self, name, state, node_state=None, booting=False):
        """Set a queued resource's state (and its node's); `booting`: only if it is still on its way up."""
        with self.lock:
            current = self.resources.get(name, {}).get("state", {}).get("state")
            if current and not (booting and current in ("FAILED", "SUSPENDED")):
                self.resources[name]["state"] = {"state": state}
                node = self.resources[name]["tpu"]["nodeSpec"][0]
                if node_state:
                    self.nodes[f"{node['parent']}/nodes/{node['nodeId']}"]["state"] = node_state

    def boot(self, name, node_name):
        time.sleep(0.3)
        self.set_state(name, "PROVISIONING", booting=True)
        time.sleep(0.3)
        workdir = os.path.join(self.folder, name.rsplit("/", 1)[-1])
        os.makedirs(workdir, exist_ok=True)
        script = os.path.join(workdir, "startup-script")
        with self.lock:
            if self.resources.get(name, {}).get("state") != {"state": "PROVISIONING"}:
                return  # deleted, or failed, before it booted
            with open(script, "w") as f:
                f.write(self.nodes[node_name]["metadata"]["startup-script"])
            vm = subprocess.Popen(
                ["bash", script],
                cwd=workdir,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            self.vms[name] = vm
        self.set_state(name, "ACTIVE", "READY", booting=True)
        with open(os.path.join(workdir, "console.log"), "w") as console:
            for line in vm.stdout:
                console.write(line)
                console.flush()
                if self.preempt and not self.preempted and self.preempt.search(line):
                    self.preempted.append(name)
                    threading.Thread(target=self.preempt_vm, args=(name, vm), daemon=True).start()
        vm.wait()

    def preempt_vm(self, name, vm):
        self.set_state(name, "ACTIVE", "STOPPING")
        self.stop(vm, signal.SIGTERM)
        self.set_state(name, "SUSPENDED", "PREEMPTED")

    @staticmethod
    def stop(vm, sig, grace=120):
        """Signal every process of the VM; wait until they are gone (SIGKILL after `grace` seconds)."""
        deadline = time.monotonic() + grace
        while True:
            try:
                os.killpg(vm.pid, sig)
            except ProcessLookupError:
                return
            if sig == signal.SIGTERM:
                sig = 0  # signal once, then only look
            if time.monotonic() > deadline:
                sig = signal.SIGKILL
            time.sleep(0.2)

    # ---- serving ----------------------------------------------------------------------------------------------

    def __enter__(self):
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def serve(self):
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length", 0) or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                status, reply = standin.handle(self.command, url.path, urllib.parse.parse_qs(url.query), body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = serve

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        for vm in list(self.vms.values()):
            self.stop(vm, signal.SIGKILL)
