"""Run the simulator under real uvicorn on an ephemeral port, in a background thread.

    with DemoMisServer(create_app()) as server:
        httpx.get(server.url + "/_demo/health")

The socket is bound (port 0) and listening before the thread starts, so ``url`` is usable at
once; ``__enter__`` still waits for uvicorn's startup to finish (an Event, not a sleep). The
state is at ``server.state`` for in-process control.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from app.demo_mis.state import DemoState


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, started: threading.Event) -> None:
        super().__init__(config)
        self._started_event = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._started_event.set()


class DemoMisServer:
    """A uvicorn server for ``app`` on 127.0.0.1 and a free port; a context manager.

    Tests also use it to serve the misync API itself (``lifespan="on"``)."""

    def __init__(
        self, app: Starlette, host: str = "127.0.0.1", startup_timeout: float = 30.0, lifespan: str = "off"
    ) -> None:
        self.app = app
        self.host = host
        self.startup_timeout = startup_timeout
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port: int = self._sock.getsockname()[1]
        self._started = threading.Event()
        # ws="none": no websockets import (its deprecation warnings would be errors in tests).
        config = uvicorn.Config(app, log_level="warning", access_log=False, ws="none", lifespan=lifespan)  # type: ignore[arg-type]
        self._server = _Server(config, self._started)
        self._thread = threading.Thread(target=self._run, name=f"demo-mis:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> DemoState:
        state: DemoState = self.app.state.demo
        return state

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> DemoMisServer:
        self._sock.listen(128)
        self._thread.start()
        if not self._started.wait(self.startup_timeout) or not self._thread.is_alive():
            raise RuntimeError("the demo MIS server did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> DemoMisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
