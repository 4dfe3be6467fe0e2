"""What an operator needs around the bot: metrics and health on a local HTTP endpoint,
structured logs without secrets, and backups.

``bot.app`` wires :class:`~bot.ops.operations.Operations` into the application; the
command line uses :mod:`bot.ops.backup` and :mod:`bot.ops.logs`. The wallet core knows
nothing of this: the figures come through ``bot.domain.operations``, the counts through
hooks the core offers (the payment guard's ``on_decision``, the send limiter's
``on_retry_after``, the update processor's ``around``).
"""
