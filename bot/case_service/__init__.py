"""Reference case service: the agency case system the assistant hands formal requests to.

Real deployments usually connect the assistant to the agency's own system; this one ships so the
project runs end to end and so the HTTP contract (see /openapi.json, docs/case-api.md) is concrete.
Run it with `python -m bot.case_service`.
"""

from bot import __version__

__all__ = ["__version__"]
