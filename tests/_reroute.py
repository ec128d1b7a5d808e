"""httpx transports that send every request to a fake server on 127.0.0.1, whatever host the SDK addressed it to.

A client built for a provider's real host (``https://api.deepseek.com``) then makes its calls as it would there, over
a real HTTP connection, and nothing leaves the machine: only the socket's address is rewritten, not the request.
"""

from __future__ import annotations

import httpx


def _to(fake: httpx.URL, request: httpx.Request) -> None:
    request.url = request.url.copy_with(scheme="http", host=fake.host, port=fake.port)


class ToFake(httpx.HTTPTransport):
    def __init__(self, fake_url: str) -> None:
        super().__init__()
        self.fake = httpx.URL(fake_url)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        _to(self.fake, request)
        return super().handle_request(request)


class AsyncToFake(httpx.AsyncHTTPTransport):
    def __init__(self, fake_url: str) -> None:
        super().__init__()
        self.fake = httpx.URL(fake_url)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        _to(self.fake, request)
        return await super().handle_async_request(request)
