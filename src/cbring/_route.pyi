from typing import Any

from cbring._core import Batch

REQUEST_COMPLETE: int
HANDLE_CLOSING: int

def route(routes: Any, batch: Batch) -> None: ...
