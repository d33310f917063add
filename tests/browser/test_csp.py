"""The main pages under the Content-Security-Policy in a real browser: nothing they need is blocked.

The ``new_context`` fixture fails any test whose pages report a violation; this one walks every
main page (visitor, volunteer, donor, staff and the API docs) and checks the pages' scripts ran.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import Page, expect

from tests.browser.conftest import is_csp_violation, log_in, wait_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


def record_violations(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text) if is_csp_violation(message.text) else None)
    return seen


async def test_main_pages_run_under_the_policy(server: Any, new_context: Any, make_user: Any) -> None:
    base = server.http_base
    await database_sync_to_async(make_user)("vera", roles=("volunteer", "donor"))
    await database_sync_to_async(make_user)("staff", roles=("staff",), is_superuser=True)

    visitor = await (await new_context()).new_page()
    visitor_seen = record_violations(visitor)
    response = await visitor.goto(f"{base}/")
    assert response is not None and "script-src 'self'" in (await response.all_headers())["content-security-policy"]
    await visitor.goto(f"{base}/help/new/")
    await visitor.fill("input[name=name]", "Sam")
    await visitor.fill("textarea[name=description]", "I need a food parcel")
    await visitor.locator("#main").get_by_role("button").first.click()
    await visitor.wait_for_url(re.compile(r"/help/[0-9a-f-]{36}/$"))
    public_id = visitor.url.rstrip("/").rsplit("/", 1)[-1]
    await expect(visitor.locator("#chat-connection")).to_have_attribute("data-state", re.compile("live|fallback"))

    volunteer = await (await new_context()).new_page()
    volunteer_seen = record_violations(volunteer)
    await log_in(volunteer, base, "vera")
    await wait_live(volunteer)
    await volunteer.goto(f"{base}/help/queue/")
    await expect(volunteer.locator("#queue-connection")).to_have_attribute("data-state", "live")
    row = volunteer.locator(f"#queue-rows tr[data-public-id='{public_id}']")
    await row.get_by_role("button", name="Take").click()
    await volunteer.wait_for_url(re.compile(public_id))
    await expect(volunteer.locator("#chat-connection")).to_have_attribute("data-state", re.compile("live|fallback"))
    await volunteer.goto(f"{base}/shifts/")
    await wait_live(volunteer)
    await volunteer.goto(f"{base}/donate/")
    await volunteer.fill("input[name=amount]", "5")
    await volunteer.get_by_role("button", name="Donate").click()
    # The donation page's script (a static file now) marks the steps done.
    await expect(volunteer.locator("#donation-steps li.done").first).to_be_attached()
    await volunteer.goto(f"{base}/notifications/")
    await wait_live(volunteer)

    staff = await (await new_context()).new_page()
    staff_seen = record_violations(staff)
    await log_in(staff, base, "staff")
    await staff.goto(f"{base}/admin/")
    await expect(staff.locator("#cr-status")).to_have_attribute("data-state", re.compile("live|fallback"))
    await staff.goto(f"{base}/admin/dashboard/announcement/add/")
    await expect(staff.locator("#audience-count")).not_to_be_empty()
    await staff.goto(f"{base}/admin/chat/helprequest/")
    await staff.goto(f"{base}/api/docs/")
    await expect(staff.locator(".swagger-ui .info .title")).to_contain_text("Charity real-time API")

    assert visitor_seen == volunteer_seen == staff_seen == []
