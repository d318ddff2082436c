-- The audit log is read newest first, `ORDER BY created_at DESC, id DESC`, narrowed by any
-- of action, actor, account and time range: each filter gets an index ending in the
-- keyset columns, so a page is a range scan wherever the list is cut.
DROP INDEX audit_by_account;
CREATE INDEX audit_by_account_time ON audit_log (account_id, created_at, id);
CREATE INDEX audit_by_actor_time ON audit_log (actor_id, created_at, id);
CREATE INDEX audit_by_action_time ON audit_log (action, created_at, id);
CREATE INDEX audit_by_time ON audit_log (created_at, id);
