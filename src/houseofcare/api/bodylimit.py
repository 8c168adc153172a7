"""A hard limit on request body size, enforced before any handler reads the body.

An oversized body is refused with 413 and an OperationOutcome, whether it announces its size
in `Content-Length` or streams past the limit (chunked): nothing is parsed and nothing is
written, and a large upload cannot exhaust the server's memory.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from houseofcare.api.errors import ApiError, outcome_issue, outcome_response


class BodyTooLarge(ApiError):
    """The streamed body went past the limit (an ApiError, so any layer answers it as 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            413,
            f"request body is more than {max_bytes:,} bytes; the limit is {max_bytes:,} bytes",
            expression=["body"],
        )


class BodySizeLimit:
    """ASGI middleware: refuse bodies larger than `max_bytes` with 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _refusal(self, size: str) -> object:
        return outcome_response(
            413,
            [
                outcome_issue(
                    413,
                    f"request body is {size}; the limit is {self.max_bytes:,} bytes",
                    ["body"],
                )
            ],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    response = self._refusal(f"{declared:,} bytes")
                    await response(scope, receive, send)  # type: ignore[operator]
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            response = self._refusal(f"more than {self.max_bytes:,} bytes")
            await response(scope, receive, send)  # type: ignore[operator]
