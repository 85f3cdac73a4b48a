"""nginx as the cluster's load balancer: round robin over the replicas, in the foreground, in a temp prefix.

A request goes to the next replica when the one it was sent to fails before answering (`proxy_next_upstream error
timeout non_idempotent`): the connection is refused (the replica is down), or breaks after the request was written
(the replica was killed) before a response header came. Every try of one client request carries nginx's
`$request_id` as `X-OneFlow-Balancer-Id`, which a replica claims in the shared Redis right before its first
upstream attempt (`oneflow_ai.gateway.balancer_claim`): a call the dead replica had begun at the provider is refused
by the next (502 `attempt_elsewhere`), never served and billed twice, and one it had not begun is served. A stream
whose first bytes had reached the client cannot be passed on: it is cut. The request body is read
whole before a replica is chosen (`proxy_request_buffering`, nginx's default), and answers are passed on as they
come (`proxy_buffering off`: streams are not held back). Each answer says which replicas nginx tried
(`x-served-by: $upstream_addr`, e.g. `127.0.0.1:41001, 127.0.0.1:41002` after one was refused), and the access log
has one line per call: its `x-call-id`, status, the replicas tried and their statuses.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.fakes.runner import START_LIMIT_S, free_port

CONF = """\
worker_processes 1;
master_process off;  # one process, as the invoking user (no switch to `nobody` when run as root)
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format calls '$msec $request_time "$http_x_call_id" $status "$upstream_addr" "$upstream_status"';
    access_log {prefix}/access.log calls;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    client_max_body_size 10m;
    upstream oneflow {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /balancer-health {{ return 200 'ok'; }}
        location / {{
            proxy_pass http://oneflow;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-OneFlow-Balancer-Id $request_id;
            proxy_buffering off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
            add_header x-served-by $upstream_addr always;
        }}
    }}
}}
"""
SERVER = "        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;"


def nginx_path() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:/sbin")


@dataclass(frozen=True)
class Logged:
    """One access-log line: a call as nginx saw it."""

    at: float
    """When nginx finished it (epoch seconds)."""
    seconds: float
    call_id: str
    status: int
    replicas: tuple[str, ...]
    """The replicas nginx tried, in order (`host:port`)."""
    statuses: str


@dataclass
class Balancer:
    process: subprocess.Popen[bytes]
    prefix: Path
    url: str

    def log(self) -> list[Logged]:
        lines = (self.prefix / "access.log").read_text().splitlines() if (self.prefix / "access.log").exists() else []
        out = []
        for line in lines:
            head, call_id, status, replicas, _, statuses, _ = line.split('"')
            at, seconds = head.split()
            tried = tuple(r.strip() for r in replicas.replace(" : ", ",").split(",") if r.strip() not in ("", "-"))
            out.append(Logged(float(at), float(seconds), call_id, int(status), tried, statuses))
        return out

    def output(self) -> str:
        return "\n".join(
            (self.prefix / name).read_text(errors="replace")
            for name in ("stdout.log", "error.log")
            if (self.prefix / name).exists()
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_balancer(prefix: Path, replica_ports: list[int]) -> Balancer:
    """nginx in front of `replica_ports`, on a free port; returns once it answers (its own health location)."""
    nginx = nginx_path()
    assert nginx is not None, "nginx is not installed (apt-get install nginx-light)"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(SERVER.format(port=p) for p in replica_ports)
    conf = prefix / "nginx.conf"
    conf.write_text(CONF.format(prefix=prefix, port=port, servers=servers))
    args = [nginx, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, f"nginx refused its config:\n{check.stderr}"
    with (prefix / "stdout.log").open("wb") as out:
        process = subprocess.Popen([*args, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT)
    balancer = Balancer(process, prefix, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + START_LIMIT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}: {balancer.output()}")
        try:
            if httpx.get(balancer.url + "/balancer-health", timeout=5).status_code == 200:
                return balancer
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            balancer.stop()
            raise RuntimeError(f"nginx did not answer within {START_LIMIT_S:g}s: {balancer.output()}")
        time.sleep(0.05)
