-- The notices closed 'blocked' of one person, found when they open the private chat so
-- that what the bot could not tell them then is sent now (bot/domain/notices.py: each
-- one's copy, keyed 'again:<id>', written once).
CREATE INDEX notices_blocked ON notices (telegram_id, created_at) WHERE state = 'blocked';
