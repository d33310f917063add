"""The per-helper cap in the browser: at the cap, Take is disabled and the reason is written out;
it comes back live when a conversation ends (docs/helpline.md, "Limits that protect volunteers")."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from playwright.async_api import expect

from tests.browser.conftest import log_in, screenshot

pytestmark = [pytest.mark.scaleout, pytest.mark.browser]


@database_sync_to_async
def vera_at_her_limit(make_user: Any) -> tuple[Any, Any, Any]:
    from charity.roles import Role
    from chat import services
    from chat.models import HelperLimit

    vera = make_user("vera", roles=(Role.VOLUNTEER,))
    HelperLimit.objects.create(user=vera, max_active=1)
    mine = services.help_request_create(name="Alice", description="I need food for tonight.")
    services.help_request_claim(help_request=mine, user=vera)
    waiting = services.help_request_create(name="Bob", description="Rent is due.")
    return vera, mine, waiting


@database_sync_to_async
def resolve(help_request: Any, user: Any) -> None:
    from chat import services
    from chat.participants import user_participant

    services.help_request_resolve(help_request=help_request, by=user_participant(user))


def new_request() -> Any:
    from chat import services

    return services.help_request_create(name="Carol", description="Lost my job.")


@database_sync_to_async
def claim(help_request: Any, user: Any) -> None:
    from chat import services

    services.help_request_claim(help_request=help_request, user=user)


async def test_take_is_disabled_with_the_reason_at_the_cap(server: Any, new_context: Any, make_user: Any) -> None:
    vera, mine, waiting = await vera_at_her_limit(make_user)
    page = await (await new_context()).new_page()
    await log_in(page, server.http_base, "vera")
    await page.goto(f"{server.http_base}/help/queue/")
    await expect(page.locator("#queue-connection")).to_have_attribute("data-state", "live")
    take = page.locator(f"#queue-rows tr[data-public-id='{waiting.public_id}']").get_by_role("button", name="Take")
    await expect(take).to_be_disabled()
    reason = page.locator("#queue-capacity")
    await expect(reason).to_contain_text("Take is off")
    await expect(reason).to_contain_text("your limit of 1")
    await screenshot(page, "volunteer-queue-at-limit")
    # Her conversation ends: the page learns it live, Take comes back.
    await resolve(mine, vera)
    await expect(take).to_be_enabled()
    await expect(reason).to_contain_text("You have 0 of 1 active conversations.")
    # At the cap again (another request is hers): Take goes off live, on the rows the socket drew.
    third = await database_sync_to_async(new_request)()
    row = page.locator(f"#queue-rows tr[data-public-id='{third.public_id}']")
    await expect(row).to_contain_text("Carol")
    await claim(waiting, vera)
    await expect(row.get_by_role("button", name="Take")).to_be_disabled()
    await expect(reason).to_contain_text("your limit of 1")
