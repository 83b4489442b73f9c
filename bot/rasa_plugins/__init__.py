"""What the project adds inside the Rasa process.

tracker_store masks personal data before anything is stored; action_failure gives the person a
reply when an action fails; speedups builds Rasa's action-response validator once; metrics adds
Prometheus' /metrics to Rasa's app. `install()` applies every patch of Rasa, once, together with the
action server's shared secret (bot.access.action_auth) and the live handoff's relay (bot.handoff.relay).
The project's launcher (`python -m bot.ops.rasa_cli run`, used by run.sh, compose and Kubernetes)
calls it before Rasa starts. A plain `rasa run` loads the tracker store (endpoints.yml) and the
channels (credentials.yml) in every profile, so those two modules call it too; it runs once.
"""

from __future__ import annotations


def install() -> None:
    """Apply the Rasa-process patches (each is idempotent)."""
    import bot.access.action_auth
    import bot.handoff.relay
    from bot.rasa_plugins import action_failure, metrics, speedups

    speedups.install()
    action_failure.install()
    bot.handoff.relay.install()  # messages typed during a live handoff reach its case (bot.handoff)
    bot.access.action_auth.install()
    metrics.install()
