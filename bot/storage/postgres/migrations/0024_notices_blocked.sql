-- The notices closed 'blocked' of one person, found when they open the private chat so
-- that what the bot could not tell them then is sent now (bot/domain/notices.py: each
-- one's copy, keyed 'again:<id>', written once).
-- (PostgreSQL's dialect of sqlite/migrations/0024_notices_blocked.sql: the same index.)
CREATE INDEX notices_blocked ON notices (telegram_id, created_at) WHERE state = 'blocked';
