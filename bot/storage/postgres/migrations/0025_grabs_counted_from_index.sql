-- (PostgreSQL's side of sqlite/migrations/0025_grabs_counted_from_index.sql: nothing to do.
-- PostgreSQL reads a run's recent grabs in its one statement (batch_ops._READ) and can
-- already scan the partial index transfers_grabs_by_time without the kind among its
-- columns; rebuilding it would lock the journal against writes for as long as that took.)
SELECT 1;
