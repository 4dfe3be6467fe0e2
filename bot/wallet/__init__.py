"""The wallet core: money, the ledger and its rules. Knows nothing of Telegram."""
