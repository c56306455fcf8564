-- The reports (issue 15) show the staff queue as it stands: per number, the
-- conversations waiting and held, since when, by whom
-- (`report::figures::queue`: `tenant_id = $1 AND mode IN ('waiting',
-- 'human')`). No index had the tenant and both modes: each report read
-- every conversation of the database (42 ms at the demo seed's 100,000 on
-- PostgreSQL, of a page of about 300 ms). This one holds only the few
-- conversations staff have or should have (4,300 of 100,000): 5 ms. A
-- message in a conversation the bot has does not touch it. SQLite uses it
-- as the query repeats its WHERE term.
CREATE INDEX conversations_staff_queue ON conversations (tenant_id, account_id, mode)
    WHERE mode IN ('waiting', 'human');
