from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from typing_extensions import disjoint_base

from cbring._core import StatusEvent
from cbring._errors import DispatcherClosed

REQUEST_COMPLETE: int
HANDLE_CLOSING: int

@disjoint_base
class Routes:
    _closed: Optional[DispatcherClosed]
    def __init__(self, max_unclaimed: int) -> None: ...
    @property
    def pending(self) -> int:
        """Futures waiting for a REQUEST_COMPLETE."""
    @property
    def unclaimed(self) -> int:
        """Completions kept for a register() that has not come yet."""
    @property
    def closed(self) -> bool:
        """True once the dispatcher has stopped; register() then raises DispatcherClosed."""
    @property
    def unknown(self) -> int:
        """Events whose context nobody registered."""
    @property
    def dispatched(self) -> int:
        """Events routed to a registered context."""
    @property
    def discarded(self) -> int:
        """Unclaimed completions thrown away (past max_unclaimed, or at their HANDLE_CLOSING)."""
    @property
    def _waiting(self) -> Dict[int, List[Any]]: ...
    @property
    def _closing(self) -> Dict[int, List[Any]]: ...
    def _use_waiters(self, waiter_type: Callable[..., Any], kwargs: Dict[str, Any]) -> None: ...
    def _register(self, context: object) -> Any: ...
    def _forget(self, context: int, future: Any) -> None: ...
    def _unregister(self, context: int) -> None: ...
    def _take_waiting(self) -> List[Tuple[int, Any]]: ...
    def dispatch(self, batch: Iterable[StatusEvent]) -> None:
        """Routes every event of a batch (a Batch, or any iterable of StatusEvent)."""
    def _settle(self, future: Any, context: int, event: StatusEvent) -> bool: ...
    def _resolve(self, future: Any, value: object) -> bool: ...
    def _fail(self, future: Any, error: BaseException) -> bool: ...
