"""`python -m bench --rasa-speedups`: puts this directory on PYTHONPATH so that `rasa run` (not the
action server) applies bot.rasa_plugins.speedups at start-up; measures the fix before it is wired in."""

import sys

if sys.argv and sys.argv[0].endswith("rasa") and "actions" not in sys.argv[1:3]:
    try:
        import bot.rasa_plugins.speedups

        bot.rasa_plugins.speedups.install()
    except Exception as exc:  # pragma: no cover - a benchmark switch, never the product
        print(f"bench: rasa speedups not installed: {exc}", file=sys.stderr)
