"""The cluster's replicas: `oneflow serve` processes, each on a port and data directory of its own that it keeps
across a restart (a replica killed and started again finds what it left in its data directory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.runner import free_port
from tests.fakes.subprocess_gateway import PASSED_ONLY_IF_GIVEN, Served, wait_until_up


@dataclass
class Replica:
    name: str
    port: int
    data_dir: Path
    env: dict[str, str]
    config: Path
    served: Served | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        """As nginx names it in `x-served-by` and its log."""
        return f"127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.served is not None and self.served.process.poll() is None

    def launch(self, **extra_env: str) -> None:
        """Start the process (not waiting for it: `wait_up()`), with `extra_env` over the replicas' environment for
        this start only; its output goes to files numbered by start."""
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("ONEFLOW_", "PROMETHEUS_", "OTEL_"))}
        for name in PASSED_ONLY_IF_GIVEN:
            environ.pop(name, None)
        environ.update(
            {
                "ONEFLOW_MASTER_KEY": MASTER_KEY,
                "ONEFLOW_DATA_DIR": str(self.data_dir),
                "UPSTREAM_KEY": UPSTREAM_KEY,
                **self.env,
                **extra_env,
            }
        )
        args = [sys.executable, "-m", "oneflow_ai", "serve", "--port", str(self.port), "--config", str(self.config)]
        logs = self.data_dir.parent / "logs"
        logs.mkdir(exist_ok=True)
        out, err = logs / f"{self.name}-{self.starts}.out", logs / f"{self.name}-{self.starts}.err"
        self.starts += 1
        with out.open("wb") as o, err.open("wb") as e:
            process = subprocess.Popen(args, stdout=o, stderr=e, env=environ)
        self.served = Served(process, self.url, out, err)

    def wait_up(self) -> None:
        """Until `/health` answers 200 (a process that exits fails at once, with its output)."""
        assert self.served is not None
        wait_until_up(self.served)

    def kill(self) -> None:
        """SIGKILL: the process ends at once, nothing of it runs after."""
        assert self.served is not None
        self.served.process.send_signal(signal.SIGKILL)
        self.served.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the process runs no more until it is killed (or continued); its sockets stay open."""
        assert self.served is not None
        self.served.process.send_signal(signal.SIGSTOP)

    def terminate(self) -> None:
        assert self.served is not None
        self.served.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()

    def output(self) -> str:
        return self.served.output() if self.served is not None else ""


def replicas(root: Path, n: int, env: dict[str, str], config: Path) -> list[Replica]:
    """`n` replicas on free ports, data directories under `root` (not started)."""
    made = []
    for i in range(n):
        data = root / f"replica-{i}"
        data.mkdir(parents=True, exist_ok=True)
        made.append(Replica(f"replica-{i}", free_port(), data, env, config))
    return made
