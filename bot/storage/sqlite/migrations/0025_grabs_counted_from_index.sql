-- A run of grabs counts its grabbers' recent grabs (bot/storage/sqlite/redpacket_ops.py,
-- _recent_grabs) from the index alone: with the kind among its columns, SQLite answers
-- the count without reading each grab's row.
DROP INDEX transfers_grabs_by_time;
CREATE INDEX transfers_grabs_by_time ON transfers (credit_account_id, created_at, kind)
    WHERE kind = 'redpacket_grab';
