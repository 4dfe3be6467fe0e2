"""A Telegram bot that is a community wallet."""
