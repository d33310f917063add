"""The project's own settings, with only the admission limits raised so a benchmark can connect.

The load client opens thousands of sockets from one address within seconds; the production limits
(``REALTIME_CONNECTIONS_PER_IP``, ``REALTIME_CONNECTIONS_PER_KEY``) would refuse most of them. The
per-person socket limit stays as it is: every benchmark socket belongs to its own user. Nothing
else differs from ``charity.settings``, so the delivery path measured is the production one.
"""

from __future__ import annotations

from charity.settings import *  # noqa: F403

REALTIME_CONNECTIONS_PER_IP = 10**9
REALTIME_CONNECTIONS_PER_KEY = 10**6
REALTIME_SOCKETS_PER_PROCESS = 10**6
