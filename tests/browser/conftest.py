"""Browser tests: headless Chromium from Debian's packages, driven by Playwright.

Never downloads a browser: Playwright launches the system Chromium (``CHROMIUM_PATH``, default
``/usr/bin/chromium``). The pages are served by real daphne processes (scale-out pass only).
Playwright's async API is used so the tests' own database work runs as in every other async test
(through ``database_sync_to_async``), never inside a foreign event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The flags this machine kind needs: no sandbox as root, and no background calls to Google's hosts.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
# The accessibility audit's engine, pinned in package-lock.json and installed by `make install`.
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
# What the audit checks: WCAG 2.1 A and AA, and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium package (.ci/run does).")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


# Every page reports what its Content-Security-Policy blocked (Chromium also logs each refusal).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


def is_csp_violation(text: str) -> bool:
    return "CSP violation" in text or "Content Security Policy" in text


@pytest.fixture
async def new_context(browser: Browser) -> AsyncIterator[Callable[..., Awaitable[BrowserContext]]]:
    """Fresh browser profiles (separate cookies and storage), closed at the end of the test.

    Any Content-Security-Policy violation on any page of any profile fails the test.
    """
    contexts: list[BrowserContext] = []
    violations: list[str] = []

    async def make(**kwargs: Any) -> BrowserContext:
        context = await browser.new_context(**kwargs)
        context.set_default_timeout(15_000)
        await context.add_init_script(REPORT_CSP_VIOLATIONS)
        context.on(
            "console",
            lambda message: (
                violations.append(f"{message.page.url if message.page else ''}: {message.text}")
                if is_csp_violation(message.text)
                else None
            ),
        )
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()
    assert violations == [], "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture
def server(daphne_servers: Callable[..., Any]) -> Any:
    return daphne_servers(1, env={"DONATIONS_PROCESSOR_DELAYS": "0.5,0.5"})[0]


async def log_in(page: Page, base_url: str, username: str, password: str = "pw-for-tests-1") -> None:
    """Log in through Django's own login form, as a person would."""
    await page.goto(f"{base_url}/accounts/login/")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.locator("#main").get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base_url}/")


async def wait_live(page: Page) -> None:
    await page.wait_for_selector("#rt-status[data-state='live'], #rt-status[data-state='fallback']")


async def assert_accessible(page: Page, what: str) -> None:
    """Run axe-core on the page as it is now; fail with every violation, its rule and where.

    The pages' Content-Security-Policy refuses injected <script> tags (``add_script_tag`` would be
    blocked, and reported as a violation), so the engine's text runs through Playwright's
    ``evaluate``, which the page's policy does not govern, and nothing of the page is loosened."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make install` (npm ci installs the pinned axe-core).")
    if not await page.evaluate("() => Boolean(window.axe)"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    result = await page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    problems = [
        f"{violation['id']} ({violation['impact']}): {violation['help']}\n"
        + "\n".join(f"    {node['target']}: {node['failureSummary']}" for node in violation["nodes"])
        for violation in result["violations"]
    ]
    assert problems == [], f"Accessibility violations on {what} ({page.url}):\n" + "\n".join(problems)


async def assert_no_sideways_scroll(page: Page, what: str) -> None:
    widths = await page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{what} scrolls sideways: {widths[0]} px wide in {widths[1]} px"


async def answer_throttled(route: Route, retry_after: int) -> None:
    """Answer a request as the API's write limit does (realtime/throttles.py): 429 with Retry-After."""
    await route.fulfill(
        status=429,
        headers={"Retry-After": str(retry_after)},
        content_type="application/json",
        body=json.dumps({"code": "rate_limited", "detail": "Request was throttled."}),
    )


async def screenshot(page: Page, name: str) -> None:
    """Keep a picture of a main page under docs/ (refreshed by each scale-out run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


class WebSocketBlockingProxy:
    """A corporate proxy in miniature: forwards HTTP to the server and, when ``block_websockets`` is
    set, refuses WebSocket upgrades. ``black_hole()`` makes every open connection silently stop
    carrying data (a dead network path that no one closes), while new connections still work."""

    def __init__(self, upstream_port: int, *, block_websockets: bool = True) -> None:
        self.upstream_port = upstream_port
        self.block_websockets = block_websockets
        self.port = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._generation = 0

    def black_hole(self) -> None:
        self._generation += 1

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        if self.block_websockets and b"upgrade: websocket" in head.lower():
            self.refused += 1
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        up_writer.write(head)
        generation = self._generation
        await asyncio.gather(self._pipe(reader, up_writer, generation), self._pipe(up_reader, writer, generation))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, generation: int) -> None:
        try:
            while data := await reader.read(65536):
                if generation != self._generation:
                    continue  # black-holed: swallow everything, close nothing
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


@pytest.fixture
async def blocking_proxy(server: Any) -> AsyncIterator[WebSocketBlockingProxy]:
    proxy = WebSocketBlockingProxy(server.port)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def forwarding_proxy(server: Any) -> AsyncIterator[WebSocketBlockingProxy]:
    proxy = WebSocketBlockingProxy(server.port, block_websockets=False)
    await proxy.start()
    yield proxy
    await proxy.stop()
