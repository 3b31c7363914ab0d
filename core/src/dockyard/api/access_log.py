"""The API's access log: one line per request, cheap at thousands of launches a second.

aiohttp's default logger runs a generic format parser and a fresh ``strftime``
for every request, about 4% of the agent's CPU per launched task. This one logs
the same facts (client, request line, status, body size, time taken) with the
timestamp formatted once per second.
"""

from __future__ import annotations

import logging
import time

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse


class AccessLog(AbstractAccessLogger):
    """``127.0.0.1 [28/Nov/2026:00:36:38 +0000] "POST /api/v1 HTTP/1.1" 202 0 1.2ms``."""

    _second = -1
    _stamp = ""

    def log(self, request: BaseRequest, response: StreamResponse, time_taken: float) -> None:
        version = request.version
        self.logger.info(
            '%s [%s] "%s %s HTTP/%d.%d" %d %d %.1fms',
            request.remote,
            self._timestamp(),
            request.method,
            request.path_qs,
            version.major,
            version.minor,
            response.status,
            response.body_length,
            time_taken * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def _timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
        return self._stamp
