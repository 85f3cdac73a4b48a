"""The fake OpenAI upstream: nginx answering with canned bodies, run in the foreground in a temp prefix.

Routes (POST or GET, the request body is discarded):
  /v1/chat/completions          -> a chat.completion JSON
  /stream/v1/chat/completions   -> a text/event-stream body of chat.completion.chunk frames
  /v1/embeddings                -> an embeddings list
so a deployment whose base URL is `http://host:port/stream/v1` always streams.

The bodies are written into the configuration (`return 200 '...'`): a request costs nginx no file open and no
internal redirect (serving files, a POST had to go through `error_page 405` to be served as a GET), which
halved nginx's CPU per request, CPU that on a two-core machine the gateway's workers need.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import canned
from bench.procs import Server, start_server

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process off;  # one process, running as the invoking user (no switch to `nobody`)
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp;
    proxy_temp_path {prefix}/tmp;
    fastcgi_temp_path {prefix}/tmp;
    uwsgi_temp_path {prefix}/tmp;
    scgi_temp_path {prefix}/tmp;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    etag off;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /v1/chat/completions {{ default_type application/json; {chat} }}
        location = /v1/embeddings {{ default_type application/json; {embeddings} }}
        location = /stream/v1/chat/completions {{ default_type text/event-stream; {stream} }}
        location = /health {{ return 200 'ok'; }}
    }}
}}
"""


class MissingTool(RuntimeError):
    """A prerequisite program is not installed; the message says how to install it."""


def require(program: str, package: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        raise MissingTool(f"{program} not found; install it with: apt-get install -y {package}")
    return path


@dataclass(frozen=True)
class Upstream:
    server: Server
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def stream_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stream/v1"


PIECE = 3000
"""nginx refuses a configuration token over 4096 bytes: a longer body is set in pieces, then joined."""


def answer(name: str, body: bytes) -> str:
    """The directives that answer 200 with `body` exactly (`name` names the variables holding its pieces)."""
    if b"$" in body:  # `return` would read it as a variable, and nginx has no escape for it
        raise ValueError(f"the canned body {name} has a '$'")
    pieces = [body[i : i + PIECE] for i in range(0, len(body), PIECE)]
    if len(pieces) == 1:
        return f"return 200 {quoted(body)};"
    sets = " ".join(f"set ${name}{i} {quoted(p)};" for i, p in enumerate(pieces))
    return f"{sets} return 200 '{''.join(f'${{{name}{i}}}' for i in range(len(pieces)))}';"


def quoted(piece: bytes) -> str:
    """`piece` as an nginx single-quoted string (whose escapes are \\, \', \n, \r and \t)."""
    text = piece.decode()
    for raw, escaped in (("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(raw, escaped)
    return f"'{text}'"


def write_prefix(prefix: Path, port: int) -> Path:
    """Write the nginx config, canned bodies included, under `prefix`; return the config path."""
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            prefix=prefix,
            port=port,
            chat=answer("chat", canned.chat_completion()),
            embeddings=answer("embeddings", canned.embeddings()),
            stream=answer("stream", canned.chat_stream()),
        )
    )
    return conf


def start_upstream(prefix: Path, port: int, *, cpu: str = "1") -> Upstream:
    """Start nginx in the foreground pinned to `cpu`; return once /health answers."""
    nginx = require("nginx", "nginx-light")
    conf = write_prefix(prefix, port)
    check = subprocess.run([nginx, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected its config:\n{check.stderr}")
    cmd = ["taskset", "-c", cpu, nginx, "-p", str(prefix), "-c", str(conf)]
    server = start_server("nginx", cmd, f"http://127.0.0.1:{port}/health", log=prefix / "stdout.log")
    return Upstream(server=server, port=port)


def nginx_version() -> str:
    out = subprocess.run([require("nginx", "nginx-light"), "-v"], capture_output=True, text=True)
    return out.stderr.strip().removeprefix("nginx version: ").removeprefix("nginx/")
