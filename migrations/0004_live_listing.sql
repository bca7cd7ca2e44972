-- 0004: what the server listed when it was run in the sandbox, beside what its source
-- showed. JSON (model::LiveListing): when, sandboxed or not, the outcome (listed N tools,
-- or failed and why), and the comparison with static reading: tools only in the source,
-- only live, and in both with different definitions. NULL: never run. Append-only.
ALTER TABLE servers ADD COLUMN live_listing TEXT;
