"""The benchmark's name for ``charity.daphne`` (daphne with permessage-deflate), with the prototype's settings.

bench/run.py launches ``python -m bench.servers.deflate`` and sets the prototype's variables
``DEFLATE_WINDOW_BITS`` and ``DEFLATE_MEM_LEVEL`` (also read: ``DEFLATE_MIN_BYTES``,
``DEFLATE_MAX_MESSAGE_BYTES``). Each is copied onto its ``REALTIME_DEFLATE_*`` name; unset, the
prototype's default applies (zlib's window 15 and memLevel 8, a 1 MiB bound), so the report's
"window 2^15, memLevel 8" row still measures that against the small-window row.

    python -m bench.servers.deflate -b 127.0.0.1 -p 9002 bench.servers.b0:application
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from charity.daphne import DeflateCommandLineInterface, DeflateServer, accept_deflate, main

__all__ = ["DeflateCommandLineInterface", "DeflateServer", "accept_deflate", "apply_aliases", "main"]

# Prototype name -> (production name, the prototype's default).
ALIASES = {
    "DEFLATE_WINDOW_BITS": ("REALTIME_DEFLATE_WINDOW_BITS", "15"),
    "DEFLATE_MEM_LEVEL": ("REALTIME_DEFLATE_MEM_LEVEL", "8"),
    "DEFLATE_MIN_BYTES": ("REALTIME_DEFLATE_MIN_BYTES", "1024"),
    "DEFLATE_MAX_MESSAGE_BYTES": ("REALTIME_DEFLATE_MAX_MESSAGE_BYTES", str(1024 * 1024)),
}


def apply_aliases(environ: MutableMapping[str, str]) -> None:
    """Set each ``REALTIME_DEFLATE_*`` from its prototype name, else keep it, else the prototype default."""
    for old, (new, default) in ALIASES.items():
        if old in environ:
            environ[new] = environ[old]
        else:
            environ.setdefault(new, default)


if __name__ == "__main__":
    apply_aliases(os.environ)  # main() reads the environment, so this runs first
    main()
