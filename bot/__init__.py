"""政务公开咨询助手: retrieval, answering and helpers shared by the Rasa actions and the CLI.

Nothing in this package imports Rasa, so it can be unit-tested and reused on its own.
"""

__version__ = "0.1.0"
