"""Donors and volunteers in a real browser: live donation progress and live shift changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone
from playwright.async_api import expect

from shifts.models import Shift
from shifts.services import shift_changed
from tests.browser.conftest import log_in, screenshot, wait_live

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


async def test_donation_moves_from_received_to_confirmed_live(server: Any, new_context: Any, make_user: Any) -> None:
    await database_sync_to_async(make_user)("dana", roles=("donor",))
    page = await (await new_context()).new_page()
    await log_in(page, server.http_base, "dana")
    await page.goto(f"{server.http_base}/donate/")
    await page.fill("input[name=amount]", "20")
    await page.get_by_role("button", name="Donate").click()
    await wait_live(page)
    steps = page.locator("#donation-steps")
    # The simulated processor pushes each step through notify(); the page never reloads.
    await expect(steps).to_have_attribute("data-status", "confirmed", timeout=20_000)
    await expect(page.locator("#donation-status strong")).to_have_text("Confirmed")
    await expect(page.locator("#donation-steps li.done")).to_have_count(3)
    await screenshot(page, "donation-confirmed")


async def test_shift_change_reaches_the_volunteer_live(server: Any, new_context: Any, make_user: Any) -> None:
    vera = await database_sync_to_async(make_user)("vera", roles=("volunteer",))

    def make_shift() -> Shift:
        start = timezone.now() + timedelta(days=1)
        shift = Shift.objects.create(title="Food bank", starts_at=start, ends_at=start + timedelta(hours=2))
        shift.volunteers.add(vera)
        return shift

    shift = await database_sync_to_async(make_shift)()
    page = await (await new_context()).new_page()
    await log_in(page, server.http_base, "vera")
    await page.goto(f"{server.http_base}/shifts/")
    await wait_live(page)

    def move() -> None:
        shift.title = "Food bank (now at 10:00)"
        shift.save()
        shift_changed(shift=shift, what="moved")

    await database_sync_to_async(move)()
    await expect(page.locator("#rt-toasts")).to_contain_text("Shift moved: Food bank (now at 10:00)")
    await expect(page.locator("#shift-list")).to_contain_text("Food bank (now at 10:00)")
    await expect(page.locator("#shift-updated")).to_be_visible()
    await screenshot(page, "volunteer-shifts")
