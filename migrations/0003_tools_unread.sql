-- 0003: why a server's tools could not be read. A server whose source imports an MCP SDK
-- but registers no tool that static extraction can read (tools built at run time from a
-- file or settings, or kept in a dependency) has an unknown tool list, not an empty one;
-- this holds the reason, and is cleared when a tool list is stored. Append-only.
ALTER TABLE servers ADD COLUMN tools_unread TEXT;
