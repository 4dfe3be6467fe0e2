"""Pictures and files made for people: charts, statements, the labels they share.

Nothing here imports Telegram: a renderer takes domain values and a language and returns
text or bytes, so it can be tested (and reused) without a chat.
"""
