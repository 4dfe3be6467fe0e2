-- A run of grabs counts its grabbers' recent grabs from the index alone: with the kind
-- among its columns, an index-only scan answers the count without each grab's row.
-- (PostgreSQL's dialect of sqlite/migrations/0025_grabs_counted_from_index.sql: the same index.)
DROP INDEX transfers_grabs_by_time;
CREATE INDEX transfers_grabs_by_time ON transfers (credit_account_id, created_at, kind)
    WHERE kind = 'redpacket_grab';
