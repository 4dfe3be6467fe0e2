"""PIN hashing, TOTP, field encryption, risk rules, rate limits and the audit chain.

Like ``bot.wallet``, this package never imports Telegram or the chat layer.
"""
